/**
 * The local stand-ins: blobs in a folder, and queue, checkpoints, leases,
 * delivery log and idempotency records in one SQLite file, `<dir>/postroom.db`.
 * Events go to `<dir>/events.jsonl`.
 */
import { join } from 'node:path';
import type { Stores } from '../../compose.ts';
import type { StoreConfig } from '../../config/schema.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { JsonlEventSink } from './jsonl-event-sink.ts';
import { openDatabase } from './sqlite.ts';
import { SqliteCheckpointStore } from './sqlite-checkpoint-store.ts';
import { SqliteDeliveryLog } from './sqlite-delivery-log.ts';
import { SqliteIdempotencyStore } from './sqlite-idempotency-store.ts';
import { SqliteLeaseStore } from './sqlite-lease-store.ts';
import { SqliteQueue } from './sqlite-queue.ts';

export interface LocalStoreOptions {
  /** Receives before a message is dead-lettered. @default 5 */
  maxReceives?: number;
}

export function openLocalStores(
  store: Extract<StoreConfig, { kind: 'local' }>,
  options: LocalStoreOptions = {},
): Stores {
  const file = join(store.dir, 'postroom.db');
  const db = openDatabase(file);
  const queue = new SqliteQueue(db, { maxReceives: options.maxReceives ?? 5 });
  const eventsFile = join(store.dir, 'events.jsonl');
  return {
    kind: 'local',
    blobs: new FsBlobStore(store.dir, { deferSync: true }),
    queue,
    consumer: queue,
    checkpoints: new SqliteCheckpointStore({ db }),
    // Leases need not survive a power cut, only their process (see sqlite.ts).
    leases: new SqliteLeaseStore({ db: openDatabase(file, 'process') }),
    deliveries: new SqliteDeliveryLog({ db }),
    idempotency: new SqliteIdempotencyStore({ db }),
    events: new JsonlEventSink(eventsFile),
    eventsFile,
  };
}
