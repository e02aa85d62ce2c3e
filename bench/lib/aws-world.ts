/**
 * The AWS side for the cost and fleet benchmarks: S3, SQS and DynamoDB
 * emulators on loopback, a stand-in EventBridge that accepts PutEvents, the
 * resources created, and the SDK pointed at them through its standard
 * `AWS_ENDPOINT_URL_*` variables (as a deployed bundle would be).
 *
 * `startAwsWorldProcess` runs them in a child process, so that the emulators'
 * own CPU (dynalite is busy) is not counted in the durations measured here:
 * in AWS these services run elsewhere.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { createStateTable, startDynamoEmulator } from '../../test/helpers/dynamo-emulator.ts';
import {
  createBucket,
  createQueue,
  emulatorEnvironment,
  startS3Emulator,
  startSqsEmulator,
} from '../../test/helpers/emulators.ts';

export interface AwsWorld {
  bucket: string;
  queueUrl: string;
  table: string;
  eventBus: string;
  stop(): Promise<void>;
}

/** The environment that points the SDK at the emulators (set in this process by `startAwsWorld`). */
const ENV_NAMES = [
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_EVENTBRIDGE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
  'AWS_REQUEST_CHECKSUM_CALCULATION',
  'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'POSTROOM_S3_FORCE_PATH_STYLE',
];

/** {@link startAwsWorld} in a child process; this process's environment points at it. */
export async function startAwsWorldProcess(): Promise<AwsWorld> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, 'serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code: number | null) => reject(new Error(`the emulator process exited (${code})`)));
  });
  const started = JSON.parse(first) as {
    env: Record<string, string>;
    bucket: string;
    queueUrl: string;
    table: string;
    eventBus: string;
  };
  Object.assign(process.env, started.env);
  return {
    ...started,
    async stop() {
      child.stdin!.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

export async function startAwsWorld(): Promise<AwsWorld> {
  const [s3, sqs, dynamo] = await Promise.all([startS3Emulator(), startSqsEmulator(), startDynamoEmulator()]);
  // PutEvents only: answers every entry as accepted.
  const eventBridge: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Entries?: unknown[] };
      const entries = body.Entries ?? [];
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) }),
      );
    });
  });
  await new Promise<void>((resolve) => eventBridge.listen(0, '127.0.0.1', resolve));
  const eventBridgePort = (eventBridge.address() as AddressInfo).port;
  Object.assign(process.env, {
    ...emulatorEnvironment({ s3: s3.endpoint, sqs: sqs.endpoint, dynamodb: dynamo.endpoint }),
    AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${eventBridgePort}`,
  });
  const name = `postroom-bench-${randomUUID().slice(0, 8)}`;
  await createBucket(s3.endpoint, name);
  // Standard, as the construct creates it.
  const queueUrl = await createQueue(sqs.endpoint, name, { visibilityTimeoutSeconds: 360 });
  const table = await createStateTable(dynamo.endpoint, name);
  return {
    bucket: name,
    queueUrl,
    table,
    eventBus: 'postroom-bench',
    async stop() {
      eventBridge.closeAllConnections();
      eventBridge.close();
      await Promise.all([s3.stop(), sqs.stop(), dynamo.stop()]);
    },
  };
}

if (process.argv[2] === 'serve' && import.meta.filename === process.argv[1]) {
  const world = await startAwsWorld();
  const env = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));
  const { bucket, queueUrl, table, eventBus } = world;
  process.stdout.write(`${JSON.stringify({ env, bucket, queueUrl, table, eventBus })}\n`);
  // Runs until the parent closes stdin.
  process.stdin.resume();
  process.stdin.on('end', () => {
    void world.stop().then(() => process.exit(0));
  });
}
