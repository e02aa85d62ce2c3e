/**
 * The local side of the composition root: blobs in a folder, and queue,
 * checkpoints, leases, delivery log and idempotency records in one SQLite
 * file, `<dir>/postroom.db`; events go to `<dir>/events.jsonl`. Only
 * `open-runtime.ts` loads it, for `store.kind: local`.
 */
import { join } from 'node:path';
import { FsBlobStore } from '../adapters/local/fs-blob-store.ts';
import { JsonlEventSink } from '../adapters/local/jsonl-event-sink.ts';
import { openDatabase } from '../adapters/local/sqlite.ts';
import { SqliteCheckpointStore } from '../adapters/local/sqlite-checkpoint-store.ts';
import { SqliteConnectionSlots } from '../adapters/local/sqlite-connection-slots.ts';
import { SqliteDeadLetterStore } from '../adapters/local/sqlite-dead-letters.ts';
import { SqliteDeliveryLog } from '../adapters/local/sqlite-delivery-log.ts';
import { SqliteIdempotencyStore } from '../adapters/local/sqlite-idempotency-store.ts';
import { SqliteLeaseStore } from '../adapters/local/sqlite-lease-store.ts';
import { SqliteQueue } from '../adapters/local/sqlite-queue.ts';
import { SqliteRefreshTokenStore } from '../adapters/local/sqlite-refresh-token-store.ts';
import type { PostroomConfig, StoreConfig } from '../config/schema.ts';
import type { Stores } from '../ports.ts';
import { composeRuntime, type DriverOptions, type Runtime } from './runtime.ts';

export type LocalStoreConfig = Extract<StoreConfig, { kind: 'local' }>;

export interface LocalRuntimeOptions extends DriverOptions {
  store: LocalStoreConfig;
}

/** The embedded stand-ins under `store.dir`, for the CLI, the demo and tests. */
export function openLocalRuntime(config: PostroomConfig, options: LocalRuntimeOptions): Runtime {
  return composeRuntime(config, {
    ...options,
    stores: openLocalStores(options.store, config.aws?.processor.maxReceives ?? 5),
  });
}

export function openLocalStores(store: LocalStoreConfig, maxReceives: number): Stores {
  const file = join(store.dir, 'postroom.db');
  const db = openDatabase(file);
  const queue = new SqliteQueue(db, { maxReceives });
  const eventsFile = join(store.dir, 'events.jsonl');
  const blobs = new FsBlobStore(store.dir, { deferSync: true });
  // What a killed writer left: one small folder to read, in the background, so no command waits for it.
  blobs.removeStaleTemporaryFiles().catch(() => {});
  // One database: an event and the records of the actions that emit it commit together.
  const idempotency = new SqliteIdempotencyStore({ db });
  // Leases, poll records and connection slots need not survive a power cut, only their process (see sqlite.ts).
  const processDb = openDatabase(file, 'process');
  const deadLetters = new SqliteDeadLetterStore(queue);
  return {
    kind: 'local',
    blobs,
    queue,
    consumer: queue,
    checkpoints: new SqliteCheckpointStore({ db, recordsDb: processDb }),
    leases: new SqliteLeaseStore({ db: processDb }),
    slots: new SqliteConnectionSlots({ db: processDb }),
    deliveries: new SqliteDeliveryLog({ db }),
    idempotency,
    events: new JsonlEventSink({ file: eventsFile, db, idempotency }),
    eventsFile,
    refreshTokens: new SqliteRefreshTokenStore({ db }),
    deadLetters,
    queueInspector: deadLetters,
  };
}
