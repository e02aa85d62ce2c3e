/**
 * What only the SQLite state stores promise: state on disk survives a restart,
 * two connections to the same file (two processes) see each other's writes, and
 * housekeeping removes only expired rows. The shared port contracts are in
 * test/integration/state-stores.contract.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeAllDatabases, openDatabase } from '#lib/adapters/local/sqlite.ts';
import { SqliteCheckpointStore } from '#lib/adapters/local/sqlite-checkpoint-store.ts';
import { SqliteDeliveryLog } from '#lib/adapters/local/sqlite-delivery-log.ts';
import { SqliteIdempotencyStore } from '#lib/adapters/local/sqlite-idempotency-store.ts';
import { SqliteLeaseStore } from '#lib/adapters/local/sqlite-lease-store.ts';
import { CheckpointConflictError } from '#lib/errors.ts';

let directory: string;
let file: string;
const extraConnections: Database.Database[] = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'postroom-sqlite-state-'));
  file = join(directory, 'postroom.db');
});

afterEach(async () => {
  for (const connection of extraConnections.splice(0)) connection.close();
  closeAllDatabases();
  await rm(directory, { recursive: true, force: true });
});

/** A second connection to the same file, as another `postroom` process would open it. */
function otherProcess(): Database.Database {
  const connection = new Database(file);
  connection.pragma('busy_timeout = 5000');
  extraConnections.push(connection);
  return connection;
}

describe('SQLite state stores', () => {
  it('keep checkpoints, leases, fingerprints and idempotency records across a restart', async () => {
    // Prepare
    const clock = () => 1_000_000;
    let db = openDatabase(file);
    await new SqliteCheckpointStore({ db }).advance(
      'acct',
      'INBOX',
      { uidValidity: 9, lastUid: 4, uidNext: 5 },
      undefined,
    );
    await new SqliteLeaseStore({ db, clock }).acquire('poll:acct:INBOX', 'poller-a', 60_000);
    await new SqliteDeliveryLog({ db }).record('acct', 'INBOX', ['<a@x>|1']);
    await new SqliteIdempotencyStore({ db, clock }).markDone('msg-1/rule/flag');

    // Act
    closeAllDatabases();
    db = openDatabase(file);

    // Assess
    expect(await new SqliteCheckpointStore({ db }).get('acct', 'INBOX')).toEqual({
      uidValidity: 9,
      lastUid: 4,
      uidNext: 5,
    });
    expect(await new SqliteLeaseStore({ db, clock }).acquire('poll:acct:INBOX', 'poller-b', 60_000)).toBe(
      false,
    );
    expect(await new SqliteDeliveryLog({ db }).findDelivered('acct', 'INBOX', ['<a@x>|1'])).toEqual(
      new Set(['<a@x>|1']),
    );
    expect(await new SqliteIdempotencyStore({ db, clock }).isDone('msg-1/rule/flag')).toBe(true);
  });

  it('refuses a checkpoint advance from another process that read the old checkpoint', async () => {
    // Prepare
    const first = { uidValidity: 9, lastUid: 4, uidNext: 5 };
    const here = new SqliteCheckpointStore({ db: openDatabase(file) });
    await here.advance('acct', 'INBOX', first, undefined);
    const there = new SqliteCheckpointStore({ db: otherProcess() });
    const readThere = await there.get('acct', 'INBOX');

    // Act
    await here.advance('acct', 'INBOX', { uidValidity: 9, lastUid: 8, uidNext: 9 }, first);
    const advancing = there.advance('acct', 'INBOX', { uidValidity: 9, lastUid: 6, uidNext: 7 }, readThere);

    // Assess
    await expect(advancing).rejects.toBeInstanceOf(CheckpointConflictError);
    expect(await there.get('acct', 'INBOX')).toEqual({ uidValidity: 9, lastUid: 8, uidNext: 9 });
  });

  it('refuses a lease held by another process', async () => {
    // Prepare
    const clock = () => 1_000_000;
    const here = new SqliteLeaseStore({ db: openDatabase(file), clock });
    const there = new SqliteLeaseStore({ db: otherProcess(), clock });
    await here.acquire('poll:acct:INBOX', 'poller-a', 60_000);

    // Act
    const acquired = await there.acquire('poll:acct:INBOX', 'poller-b', 60_000);

    // Assess
    expect(acquired).toBe(false);
  });

  it('opens a leases table written before holders were recorded, and keeps its leases', async () => {
    // Prepare
    const clock = () => 1_000_000;
    const old = otherProcess();
    old.exec(`CREATE TABLE leases (name TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL) WITHOUT ROWID`);
    old.prepare('INSERT INTO leases VALUES (?, ?, ?)').run('poll:acct:INBOX', 'poller-a', 1_060_000);

    // Act
    const leases = new SqliteLeaseStore({ db: openDatabase(file), clock });
    const held = await leases.acquire('poll:acct:INBOX', 'poller-b', 60_000);
    const fresh = await leases.acquire('poll:acct:Sent', 'poller-b', 60_000);

    // Assess
    expect(held).toBe(false);
    expect(fresh).toBe(true);
    expect(await leases.holder('poll:acct:INBOX')).toEqual({ owner: 'poller-a', expiresAt: 1_060_000 });
  });

  it('purges only expired leases and idempotency records', async () => {
    // Prepare
    let now = 1_000_000;
    const clock = () => now;
    const db = openDatabase(file);
    const leases = new SqliteLeaseStore({ db, clock });
    const records = new SqliteIdempotencyStore({ db, clock });
    await leases.acquire('short', 'poller-a', 1_000);
    await leases.acquire('long', 'poller-a', 60_000);
    await records.markDone('short', 1);
    await records.markDone('long', 60);
    await records.markDone('forever');
    now += 2_000;

    // Act
    const leasesPurged = leases.purgeExpired();
    const recordsPurged = records.purgeExpired();

    // Assess
    expect(leasesPurged).toBe(1);
    expect(recordsPurged).toBe(1);
    expect(await leases.acquire('long', 'poller-b', 1_000)).toBe(false);
    expect(await records.isDone('long')).toBe(true);
    expect(await records.isDone('forever')).toBe(true);
  });

  it('applies the default expiry to records marked without one', async () => {
    // Prepare
    let now = 1_000_000;
    const records = new SqliteIdempotencyStore({
      db: openDatabase(file),
      clock: () => now,
      defaultTtlSeconds: 10,
    });
    await records.markDone('msg');

    // Act
    now += 10_000;

    // Assess
    expect(await records.isDone('msg')).toBe(false);
  });
});

describe('durability per store', () => {
  it('fsyncs every commit for checkpoints and queue rows, and leases only as far as the process needs', async () => {
    // Prepare
    const durable = openDatabase(file);
    const leaseDb = openDatabase(file, 'process');
    const leases = new SqliteLeaseStore({ db: leaseDb });
    // Act
    await leases.acquire('poll/a/INBOX', 'poller-1', 60_000);
    // Assess: FULL (2) and NORMAL (1); one file, so the other connection sees the lease.
    expect(durable.pragma('synchronous', { simple: true })).toBe(2);
    expect(leaseDb.pragma('synchronous', { simple: true })).toBe(1);
    expect(leaseDb).not.toBe(durable);
    expect(await new SqliteLeaseStore({ db: durable }).acquire('poll/a/INBOX', 'poller-2', 60_000)).toBe(
      false,
    );
  });
});
