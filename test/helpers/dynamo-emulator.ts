/**
 * An in-process DynamoDB emulator (dynalite) on a free 127.0.0.1 port, for the
 * integration project. Point clients at it with `dynamoClientConfig(endpoint)`
 * or, the way a deployed bundle is pointed at it, with the SDK's standard
 * `AWS_ENDPOINT_URL_DYNAMODB` variable (`useDynamoEnv`).
 *
 * Checked with @aws-sdk/client-dynamodb 3.1169 and dynalite 4.0: the default
 * client settings work (DynamoDB uses neither flexible checksums nor an
 * account-based endpoint once an endpoint is given). dynalite does not
 * implement UpdateTimeToLive (`createTable` tolerates that) nor transactions.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { createTable } from '#lib/adapters/aws/dynamodb-table.ts';

/** The part of dynalite's (untyped, CommonJS) API used here. */
type DynaliteFactory = (options: Record<string, unknown>) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

/** A running emulator. */
export interface DynamoEmulator {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Fake credentials: dynalite accepts any signature, and no real account is ever reachable. */
export const dynamoEmulatorCredentials = { accessKeyId: 'DYNALITE', secretAccessKey: 'DYNALITE' } as const;

/** Starts dynalite (in memory, tables active at once) on a free loopback port. */
export async function startDynamoEmulator(): Promise<DynamoEmulator> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      // The SDK keeps connections alive; close() alone would wait for them.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** Client settings for the emulator at `endpoint` (refuses anything but loopback). */
export function dynamoClientConfig(endpoint: string): DynamoDBClientConfig {
  assertLoopback(endpoint);
  return { region: 'us-east-1', endpoint, credentials: dynamoEmulatorCredentials };
}

/**
 * Creates a state table with the contract schema (`createTable`) under a fresh
 * name, so every test file gets its own, and returns the name.
 */
export async function createStateTable(endpoint: string, name = `postroom-${randomUUID()}`): Promise<string> {
  const client = new DynamoDBClient(dynamoClientConfig(endpoint));
  try {
    await createTable(client, name);
    return name;
  } finally {
    client.destroy();
  }
}

/**
 * Sets `AWS_ENDPOINT_URL_DYNAMODB`, fake credentials and a region, and returns
 * a function that restores the previous values.
 */
export function useDynamoEnv(endpoint: string): () => void {
  assertLoopback(endpoint);
  const values: Record<string, string> = {
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ACCESS_KEY_ID: dynamoEmulatorCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: dynamoEmulatorCredentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
  const previous: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(values)) {
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

function assertLoopback(endpoint: string): void {
  const host = new URL(endpoint).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new Error(`refusing a non-loopback emulator endpoint: ${endpoint}`);
  }
}
