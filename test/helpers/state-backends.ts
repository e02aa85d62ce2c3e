/**
 * Setup shared by the state-port contract suites: one SQLite database in a
 * temporary folder and one state table on dynalite (the global setup's, or one
 * started here), both removed after the file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, inject } from 'vitest';
import {
  closeAllDatabases,
  type Durability,
  openDatabase,
  type SqliteDatabase,
} from '#lib/adapters/local/sqlite.ts';
import {
  createStateTable,
  type DynamoEmulator,
  dynamoClientConfig,
  startDynamoEmulator,
} from './dynamo-emulator.ts';

/** A wall clock the test moves by hand, shared by every store of one test. */
export interface ManualClock {
  now: () => number;
  advance(ms: number): void;
}

export function manualClock(): ManualClock {
  let now = Date.now();
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

/** What the suite's stores are built on; filled in by `beforeAll`. */
export interface StateBackends {
  db: SqliteDatabase;
  endpoint: string;
  tableName: string;
  /** A new client per store instance, so concurrent "pollers" do not share one connection pool. */
  dynamoClient(): DynamoDBClient;
}

/** Registers the file's `beforeAll`/`afterAll` and returns the backends they set up. */
export function useStateBackends(prefix: string, durability?: Durability): StateBackends {
  let directory: string | undefined;
  /** Started here only when the project's global setup did not provide one. */
  let ownEmulator: DynamoEmulator | undefined;
  const clients: DynamoDBClient[] = [];
  const state = {
    dynamoClient() {
      const client = new DynamoDBClient(dynamoClientConfig(state.endpoint));
      clients.push(client);
      return client;
    },
  } as StateBackends;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), prefix));
    state.db = openDatabase(join(directory, 'postroom.db'), durability);
    const shared = inject('servers')?.emulators.dynamodb;
    if (shared) {
      state.endpoint = shared;
    } else {
      ownEmulator = await startDynamoEmulator();
      state.endpoint = ownEmulator.endpoint;
    }
    state.tableName = await createStateTable(state.endpoint);
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await ownEmulator?.stop();
    closeAllDatabases();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  return state;
}
