/**
 * In-process S3 (s3rver) and SQS (local-aws-sqs) emulators on 127.0.0.1 free
 * ports, for the integration project. Point the adapters at them through the
 * SDK's standard `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SQS` variables (see
 * `useEmulatorEnv`) or by passing `endpoint` to a client.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';

/** The part of s3rver's (untyped, CommonJS) API used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** A running emulator. */
export interface Emulator {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Fake credentials: the emulators accept any signature, and no real account is ever reachable. */
export const emulatorCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * Client settings for an emulator endpoint. The SDK's default checksums
 * (CRC32 on requests, validation of responses) are left on: s3rver 3.7 and
 * local-aws-sqs 2.0 accept them, so tests run with production settings.
 */
export function emulatorClientConfig(endpoint: string) {
  assertLoopback(endpoint);
  return {
    region: 'us-east-1',
    endpoint,
    credentials: emulatorCredentials,
    forcePathStyle: true,
  } as const;
}

function assertLoopback(endpoint: string): void {
  const host = new URL(endpoint).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new Error(`refusing a non-loopback emulator endpoint: ${endpoint}`);
  }
}

/** Starts s3rver on a free loopback port, storing objects in a fresh temp folder. */
export async function startS3Emulator(): Promise<Emulator> {
  const directory = await mkdtemp(join(tmpdir(), 'postroom-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    // Path-style only: vhost matching would need DNS for `<bucket>.127.0.0.1`.
    vhostBuckets: false,
    allowMismatchedSignatures: true,
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Starts local-aws-sqs on a free loopback port. */
export async function startSqsEmulator(): Promise<Emulator> {
  const { service, requestHandler } = createRequestHandler({
    port: 0,
    hostname: '127.0.0.1',
    // Tests create queues with fresh names; AWS's 60 s wait after a delete is of no use here.
    emulateQueueCreationLifecycle: false,
  });
  const server: Server = createServer((req, res) => {
    void requestHandler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // Queue URLs are built from this port; it is only known after listen(0).
  service.PORT = port;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** Creates `name` on the S3 emulator at `endpoint` (existing buckets are fine). */
export async function createBucket(endpoint: string, name: string): Promise<void> {
  assertLoopback(endpoint);
  const client = new S3Client(emulatorClientConfig(endpoint));
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw error;
  } finally {
    client.destroy();
  }
}

/**
 * Creates a queue on the SQS emulator at `endpoint` and returns its URL. A FIFO
 * queue gets the `.fifo` suffix SQS requires and no content-based
 * deduplication, so the sender's deduplication ids are what counts.
 */
export async function createQueue(
  endpoint: string,
  name: string,
  options: { fifo?: boolean; visibilityTimeoutSeconds?: number } = {},
): Promise<string> {
  assertLoopback(endpoint);
  const client = new SQSClient(emulatorClientConfig(endpoint));
  const fifo = options.fifo ?? false;
  const attributes: Record<string, string> = {};
  if (fifo) attributes.FifoQueue = 'true';
  if (options.visibilityTimeoutSeconds !== undefined) {
    attributes.VisibilityTimeout = String(options.visibilityTimeoutSeconds);
  }
  try {
    const { QueueUrl } = await client.send(
      new CreateQueueCommand({
        QueueName: fifo && !name.endsWith('.fifo') ? `${name}.fifo` : name,
        Attributes: attributes,
      }),
    );
    if (!QueueUrl) throw new Error(`the SQS emulator returned no URL for ${name}`);
    return QueueUrl;
  } finally {
    client.destroy();
  }
}

/**
 * Sets `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SQS`, fake credentials and
 * path-style addressing, the way a deployed bundle is pointed at emulators,
 * and returns a function that restores the previous values.
 */
export function useEmulatorEnv(endpoints: { s3?: string; sqs?: string }): () => void {
  const values: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    POSTROOM_S3_FORCE_PATH_STYLE: '1',
  };
  const previous: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    assertLoopbackIfEndpoint(name, value);
    previous[name] = process.env[name];
    process.env[name] = value;
  }
  return () => {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

function assertLoopbackIfEndpoint(name: string, value: string): void {
  if (name.startsWith('AWS_ENDPOINT_URL')) assertLoopback(value);
}

/**
 * The environment that points the AWS SDK (and so postroom's AWS adapters) at
 * the in-process emulators.
 */
export function emulatorEnvironment(endpoints: {
  s3: string;
  sqs: string;
  dynamodb: string;
}): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ACCESS_KEY_ID: 'S3RVER', // s3rver accepts only its own key pair; the others accept any
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    // The emulators predate the SDK's default CRC32 checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    POSTROOM_S3_FORCE_PATH_STYLE: '1',
  };
}
