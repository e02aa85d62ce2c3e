/**
 * One contract suite per state port (CheckpointStore, LeaseStore, DeliveryLog,
 * IdempotencyStore), run over the SQLite and the DynamoDB (dynalite) adapters.
 * Every test uses fresh account/mailbox/key names, so the adapters' storage is
 * shared by the whole file.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoCheckpointStore } from '#lib/adapters/aws/dynamodb-checkpoint-store.ts';
import { DynamoDeliveryLog } from '#lib/adapters/aws/dynamodb-delivery-log.ts';
import { DynamoIdempotencyStore } from '#lib/adapters/aws/dynamodb-idempotency-store.ts';
import { DynamoLeaseStore } from '#lib/adapters/aws/dynamodb-lease-store.ts';
import { createTable } from '#lib/adapters/aws/dynamodb-table.ts';
import { thisHost } from '#lib/adapters/local/process-holder.ts';
import { SqliteCheckpointStore } from '#lib/adapters/local/sqlite-checkpoint-store.ts';
import { SqliteDeliveryLog } from '#lib/adapters/local/sqlite-delivery-log.ts';
import { SqliteIdempotencyStore } from '#lib/adapters/local/sqlite-idempotency-store.ts';
import { SqliteLeaseStore } from '#lib/adapters/local/sqlite-lease-store.ts';
import { CheckpointConflictError, PostroomError } from '#lib/errors.ts';
import type { Checkpoint, CheckpointStore, DeliveryLog, IdempotencyStore, LeaseStore } from '#lib/ports.ts';
import { useDynamoEnv } from '../helpers/dynamo-emulator.ts';
import { deadProcess, killLiving, livingProcess } from '../helpers/processes.ts';
import { type ManualClock, manualClock, useStateBackends } from '../helpers/state-backends.ts';

/** Builds fresh store instances (a second instance plays a second poller). */
interface Backend {
  name: string;
  checkpoints(): CheckpointStore;
  leases(clock: ManualClock): LeaseStore;
  deliveries(): DeliveryLog;
  idempotency(clock: ManualClock): IdempotencyStore;
}

const state = useStateBackends('postroom-state-');
const dynamoClient = state.dynamoClient;

const backends: Backend[] = [
  {
    name: 'sqlite',
    checkpoints: () => new SqliteCheckpointStore({ db: state.db }),
    leases: (clock) => new SqliteLeaseStore({ db: state.db, clock: clock.now }),
    deliveries: () => new SqliteDeliveryLog({ db: state.db }),
    idempotency: (clock) => new SqliteIdempotencyStore({ db: state.db, clock: clock.now }),
  },
  {
    name: 'dynamodb',
    checkpoints: () => new DynamoCheckpointStore({ client: dynamoClient(), tableName: state.tableName }),
    leases: (clock) =>
      new DynamoLeaseStore({ client: dynamoClient(), tableName: state.tableName, clock: clock.now }),
    deliveries: () => new DynamoDeliveryLog({ client: dynamoClient(), tableName: state.tableName }),
    idempotency: (clock) =>
      new DynamoIdempotencyStore({ client: dynamoClient(), tableName: state.tableName, clock: clock.now }),
  },
];

function unique(label: string): string {
  return `${label}-${randomUUID()}`;
}

async function conflictOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the write to be refused');
}

describe.each(backends)('CheckpointStore ($name)', (backend) => {
  const first: Checkpoint = { uidValidity: 1000, lastUid: 10, uidNext: 11 };

  it('keeps the last success and the last error of the polls, beside the checkpoint and apart from it', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    await store.advance(account, 'INBOX', first, undefined);

    // Act
    const before = await store.pollRecord!(account, 'INBOX');
    await store.recordPoll!(account, 'INBOX', new Date('2026-12-01T10:00:00Z'));
    await store.recordPoll!(account, 'INBOX', new Date('2026-12-01T10:05:00Z'), 'connection refused');
    await store.recordPoll!(account, 'INBOX', new Date('2026-12-01T10:10:00Z'));
    const record = await store.pollRecord!(account, 'INBOX');
    const next = { ...first, lastUid: 12, uidNext: 13 };
    await store.advance(account, 'INBOX', next, first);

    // Assess: a success keeps the last error (status shows both), and neither touches the checkpoint.
    expect(before).toBeUndefined();
    expect(record).toEqual({
      lastSuccessAt: '2026-12-01T10:10:00.000Z',
      lastErrorAt: '2026-12-01T10:05:00.000Z',
      lastError: 'connection refused',
    });
    expect(await store.get(account, 'INBOX')).toEqual(next);
    expect(await store.pollRecord!(account, 'INBOX')).toEqual(record);
  });

  it('returns nothing for a mailbox never checkpointed', async () => {
    // Prepare
    const store = backend.checkpoints();

    // Act
    const checkpoint = await store.get(unique('account'), 'INBOX');

    // Assess
    expect(checkpoint).toBeUndefined();
  });

  it('stores the first checkpoint, highestModSeq included, when none was stored', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    const next: Checkpoint = {
      uidValidity: 1000,
      lastUid: 10,
      uidNext: 11,
      highestModSeq: '18446744073709551000',
    };

    // Act
    await store.advance(account, 'INBOX', next, undefined);

    // Assess
    expect(await store.get(account, 'INBOX')).toEqual(next);
  });

  it('moves forward from the stored checkpoint', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    await store.advance(account, 'INBOX', first, undefined);
    const next: Checkpoint = { uidValidity: 1000, lastUid: 25, uidNext: 26 };

    // Act
    await store.advance(account, 'INBOX', next, await store.get(account, 'INBOX'));

    // Assess
    expect(await store.get(account, 'INBOX')).toEqual(next);
  });

  it('refuses a first write when a checkpoint already exists', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    await store.advance(account, 'INBOX', first, undefined);

    // Act
    const error = await conflictOf(
      store.advance(account, 'INBOX', { uidValidity: 1000, lastUid: 30, uidNext: 31 }, undefined),
    );

    // Assess
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect((error as CheckpointConflictError).code).toBe('CHECKPOINT_CONFLICT');
    expect(await store.get(account, 'INBOX')).toEqual(first);
  });

  it('refuses a stale poller whose previous checkpoint was moved by another', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    await store.advance(account, 'INBOX', first, undefined);
    const moved: Checkpoint = { uidValidity: 1000, lastUid: 20, uidNext: 21 };
    await store.advance(account, 'INBOX', moved, first);

    // Act
    const error = await conflictOf(
      store.advance(account, 'INBOX', { uidValidity: 1000, lastUid: 40, uidNext: 41 }, first),
    );

    // Assess
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(await store.get(account, 'INBOX')).toEqual(moved);
  });

  it('refuses a previous checkpoint that differs only in highestModSeq', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    const stored: Checkpoint = { ...first, highestModSeq: '500' };
    await store.advance(account, 'INBOX', stored, undefined);

    // Act
    const error = await conflictOf(
      store.advance(
        account,
        'INBOX',
        { ...first, lastUid: 12, uidNext: 13 },
        { ...first, highestModSeq: '499' },
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(await store.get(account, 'INBOX')).toEqual(stored);
  });

  it('never moves lastUid backwards within the same UIDVALIDITY', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    await store.advance(account, 'INBOX', first, undefined);

    // Act
    const error = await conflictOf(
      store.advance(account, 'INBOX', { uidValidity: 1000, lastUid: 9, uidNext: 11 }, first),
    );

    // Assess
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(await store.get(account, 'INBOX')).toEqual(first);
  });

  it('accepts a lower lastUid when UIDVALIDITY changed', async () => {
    // Prepare
    const store = backend.checkpoints();
    const account = unique('account');
    await store.advance(account, 'INBOX', first, undefined);
    const rescanned: Checkpoint = { uidValidity: 2000, lastUid: 3, uidNext: 4 };

    // Act
    await store.advance(account, 'INBOX', rescanned, first);

    // Assess
    expect(await store.get(account, 'INBOX')).toEqual(rescanned);
  });

  it('lets exactly one of two concurrent advances from the same checkpoint win', async () => {
    // Prepare
    const pollerA = backend.checkpoints();
    const pollerB = backend.checkpoints();
    const account = unique('account');
    await pollerA.advance(account, 'INBOX', first, undefined);
    const fromA: Checkpoint = { uidValidity: 1000, lastUid: 15, uidNext: 16 };
    const fromB: Checkpoint = { uidValidity: 1000, lastUid: 17, uidNext: 18 };

    // Act
    const results = await Promise.allSettled([
      pollerA.advance(account, 'INBOX', fromA, first),
      pollerB.advance(account, 'INBOX', fromB, first),
    ]);

    // Assess
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(CheckpointConflictError);
    const winner = results[0]!.status === 'fulfilled' ? fromA : fromB;
    expect(await pollerA.get(account, 'INBOX')).toEqual(winner);
  });

  it('keeps mailboxes apart even when names contain the key separator', async () => {
    // Prepare
    const store = backend.checkpoints();
    const prefix = unique('a');
    const one: Checkpoint = { uidValidity: 1, lastUid: 1, uidNext: 2 };
    const two: Checkpoint = { uidValidity: 2, lastUid: 2, uidNext: 3 };

    // Act
    await store.advance(`${prefix}#b`, 'c', one, undefined);
    await store.advance(prefix, 'b#c', two, undefined);

    // Assess
    expect(await store.get(`${prefix}#b`, 'c')).toEqual(one);
    expect(await store.get(prefix, 'b#c')).toEqual(two);
  });
});

describe.each(backends)('LeaseStore ($name)', (backend) => {
  it('grants a free lease', async () => {
    // Prepare
    const leases = backend.leases(manualClock());

    // Act
    const acquired = await leases.acquire(unique('lease'), 'poller-a', 60_000);

    // Assess
    expect(acquired).toBe(true);
  });

  it('gives a raced lease to exactly one of two owners', async () => {
    // Prepare
    const clock = manualClock();
    const pollerA = backend.leases(clock);
    const pollerB = backend.leases(clock);
    const name = unique('lease');

    // Act
    const results = await Promise.all([
      pollerA.acquire(name, 'poller-a', 60_000),
      pollerB.acquire(name, 'poller-b', 60_000),
    ]);

    // Assess
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('refuses a lease another owner holds until it expires, then hands it over', async () => {
    // Prepare
    const clock = manualClock();
    const pollerA = backend.leases(clock);
    const pollerB = backend.leases(clock);
    const name = unique('lease');
    await pollerA.acquire(name, 'poller-a', 60_000);

    // Act
    const whileHeld = await pollerB.acquire(name, 'poller-b', 60_000);
    clock.advance(60_001);
    const afterExpiry = await pollerB.acquire(name, 'poller-b', 60_000);
    const formerHolderRenews = await pollerA.renew(name, 'poller-a', 60_000);

    // Assess
    expect(whileHeld).toBe(false);
    expect(afterExpiry).toBe(true);
    expect(formerHolderRenews).toBe(false);
  });

  it('lets the holder acquire again, extending its lease', async () => {
    // Prepare
    const clock = manualClock();
    const pollerA = backend.leases(clock);
    const pollerB = backend.leases(clock);
    const name = unique('lease');
    await pollerA.acquire(name, 'poller-a', 10_000);
    clock.advance(5_000);

    // Act
    const again = await pollerA.acquire(name, 'poller-a', 10_000);
    clock.advance(7_000);
    const other = await pollerB.acquire(name, 'poller-b', 10_000);

    // Assess
    expect(again).toBe(true);
    expect(other).toBe(false);
  });

  it('extends a held lease on renew, and refuses to renew for a non-holder', async () => {
    // Prepare
    const clock = manualClock();
    const pollerA = backend.leases(clock);
    const pollerB = backend.leases(clock);
    const name = unique('lease');
    await pollerA.acquire(name, 'poller-a', 10_000);
    clock.advance(8_000);

    // Act
    const renewed = await pollerA.renew(name, 'poller-a', 10_000);
    const renewedByOther = await pollerB.renew(name, 'poller-b', 10_000);
    clock.advance(8_000);
    const takenOver = await pollerB.acquire(name, 'poller-b', 10_000);

    // Assess
    expect(renewed).toBe(true);
    expect(renewedByOther).toBe(false);
    expect(takenOver).toBe(false);
  });

  it('refuses to renew a lease that expired, even if nobody took it', async () => {
    // Prepare
    const clock = manualClock();
    const leases = backend.leases(clock);
    const name = unique('lease');
    await leases.acquire(name, 'poller-a', 1_000);
    clock.advance(1_001);

    // Act
    const renewed = await leases.renew(name, 'poller-a', 1_000);

    // Assess
    expect(renewed).toBe(false);
  });

  it('ignores a release by a non-owner and frees the lease on release by its owner', async () => {
    // Prepare
    const clock = manualClock();
    const pollerA = backend.leases(clock);
    const pollerB = backend.leases(clock);
    const name = unique('lease');
    await pollerA.acquire(name, 'poller-a', 60_000);

    // Act
    await pollerB.release(name, 'poller-b');
    const afterForeignRelease = await pollerB.acquire(name, 'poller-b', 60_000);
    await pollerA.release(name, 'poller-a');
    const afterOwnerRelease = await pollerB.acquire(name, 'poller-b', 60_000);

    // Assess
    expect(afterForeignRelease).toBe(false);
    expect(afterOwnerRelease).toBe(true);
  });
});

describe.each(backends)('LeaseStore.holder ($name)', (backend) => {
  it('says who holds a lease and until when, and nothing once it is free or expired', async () => {
    // Prepare
    const clock = manualClock();
    const leases = backend.leases(clock);
    const held = unique('lease');
    const released = unique('lease');
    await leases.acquire(held, 'poller-a', 60_000);
    await leases.acquire(released, 'poller-a', 60_000);
    await leases.release(released, 'poller-a');

    // Act
    const holder = await leases.holder?.(held);
    const afterRelease = await leases.holder?.(released);
    const never = await leases.holder?.(unique('lease'));
    clock.advance(60_001);
    const afterExpiry = await leases.holder?.(held);

    // Assess
    expect(holder).toEqual({ owner: 'poller-a', expiresAt: clock.now() - 1 });
    expect(afterRelease).toBeUndefined();
    expect(never).toBeUndefined();
    expect(afterExpiry).toBeUndefined();
  });
});

describe('LeaseStore (sqlite): a holder whose process is gone', () => {
  afterEach(killLiving);

  it('is taken over at once when its process was killed on this host', async () => {
    // Prepare
    const clock = manualClock();
    const name = unique('lease');
    const crashed = new SqliteLeaseStore({
      db: state.db,
      clock: clock.now,
      process: { pid: await deadProcess(), host: thisHost() },
    });
    await crashed.acquire(name, 'crashed-poller', 300_000);
    const next = new SqliteLeaseStore({ db: state.db, clock: clock.now });

    // Act
    const acquired = await next.acquire(name, 'next-poller', 60_000);
    const crashedRenews = await crashed.renew(name, 'crashed-poller', 300_000);

    // Assess
    expect(acquired).toBe(true);
    expect(crashedRenews).toBe(false);
    expect(await next.holder(name)).toEqual({ owner: 'next-poller', expiresAt: clock.now() + 60_000 });
  });

  it('is not taken over while its process lives, nor when it is on another host', async () => {
    // Prepare
    const clock = manualClock();
    const living = unique('lease');
    const elsewhere = unique('lease');
    const host = thisHost();
    await new SqliteLeaseStore({
      db: state.db,
      clock: clock.now,
      process: { pid: await livingProcess(), host },
    }).acquire(living, 'live-poller', 300_000);
    await new SqliteLeaseStore({
      db: state.db,
      clock: clock.now,
      process: { pid: await deadProcess(), host: 'another-host' },
    }).acquire(elsewhere, 'remote-poller', 300_000);
    const next = new SqliteLeaseStore({ db: state.db, clock: clock.now });

    // Act
    const whileAlive = await next.acquire(living, 'next-poller', 60_000);
    const remote = await next.acquire(elsewhere, 'next-poller', 60_000);

    // Assess
    expect(whileAlive).toBe(false);
    expect(remote).toBe(false);
  });
});

describe.each(backends)('DeliveryLog ($name)', (backend) => {
  it('finds only the fingerprints recorded for that mailbox', async () => {
    // Prepare
    const log = backend.deliveries();
    const account = unique('account');
    await log.record(account, 'INBOX', [
      '<a@x>|2024-01-01T00:00:00.000Z|100',
      '<b@x>|2024-01-01T00:00:00.000Z|200',
    ]);
    await log.record(account, 'Archive', ['<c@x>|2024-01-01T00:00:00.000Z|300']);

    // Act
    const found = await log.findDelivered(account, 'INBOX', [
      '<a@x>|2024-01-01T00:00:00.000Z|100',
      '<c@x>|2024-01-01T00:00:00.000Z|300',
      '<d@x>|2024-01-01T00:00:00.000Z|400',
    ]);

    // Assess
    expect(found).toEqual(new Set(['<a@x>|2024-01-01T00:00:00.000Z|100']));
  });

  it('accepts empty lists, repeated fingerprints and repeated records', async () => {
    // Prepare
    const log = backend.deliveries();
    const account = unique('account');
    await log.record(account, 'INBOX', []);

    // Act
    await log.record(account, 'INBOX', ['same', 'same', 'other']);
    await log.record(account, 'INBOX', ['same']);
    const found = await log.findDelivered(account, 'INBOX', ['same', 'same', 'missing']);
    const none = await log.findDelivered(account, 'INBOX', []);

    // Assess
    expect(found).toEqual(new Set(['same']));
    expect(none).toEqual(new Set());
  });

  it('stores fingerprints longer than a DynamoDB sort key and with any characters', async () => {
    // Prepare
    const log = backend.deliveries();
    const account = unique('account');
    const long = `<${'x'.repeat(3_000)}@example.org>|2024-01-01T00:00:00.000Z|1`;
    const odd = '<ünïcödé#%"\'@例え.jp>|2024-01-01T00:00:00.000Z|2';
    await log.record(account, 'INBOX', [long, odd]);

    // Act
    const found = await log.findDelivered(account, 'INBOX', [long, odd, `${long}0`]);

    // Assess
    expect(found).toEqual(new Set([long, odd]));
  });

  it('records and finds 10,000 fingerprints in one call each', async () => {
    // Prepare
    const log = backend.deliveries();
    const account = unique('account');
    const recorded = Array.from(
      { length: 10_000 },
      (_, i) => `<m${i}@bulk.example>|2024-01-01T00:00:00.000Z|${i}`,
    );
    const unknown = Array.from(
      { length: 500 },
      (_, i) => `<n${i}@bulk.example>|2024-01-01T00:00:00.000Z|${i}`,
    );

    // Act
    await log.record(account, 'INBOX', recorded);
    const found = await log.findDelivered(account, 'INBOX', [...unknown, ...recorded]);

    // Assess
    expect(found.size).toBe(10_000);
    expect(found).toEqual(new Set(recorded));
  });
});

describe.each(backends)('IdempotencyStore ($name)', (backend) => {
  it('reports a key done only after it was marked done', async () => {
    // Prepare
    const store = backend.idempotency(manualClock());
    const key = unique('msg');

    // Act
    const before = await store.isDone(key);
    await store.markDone(key);
    const after = await store.isDone(key);

    // Assess
    expect(before).toBe(false);
    expect(after).toBe(true);
  });

  it('counts an expired record as not done', async () => {
    // Prepare
    const clock = manualClock();
    const store = backend.idempotency(clock);
    const key = unique('msg');
    await store.markDone(key, 60);

    // Act
    clock.advance(59_000);
    const beforeExpiry = await store.isDone(key);
    clock.advance(1_000);
    const atExpiry = await store.isDone(key);

    // Assess
    expect(beforeExpiry).toBe(true);
    expect(atExpiry).toBe(false);
  });

  it('starts a new expiry when a key is marked done again', async () => {
    // Prepare
    const clock = manualClock();
    const store = backend.idempotency(clock);
    const key = unique('msg');
    await store.markDone(key, 60);
    clock.advance(61_000);

    // Act
    await store.markDone(key, 60);
    const done = await store.isDone(key);

    // Assess
    expect(done).toBe(true);
  });

  it('handles keys longer than a DynamoDB partition key', async () => {
    // Prepare
    const store = backend.idempotency(manualClock());
    const key = `${unique('msg')}|${'rule/'.repeat(600)}`;

    // Act
    await store.markDone(key);

    // Assess
    expect(await store.isDone(key)).toBe(true);
    expect(await store.isDone(`${key}x`)).toBe(false);
  });

  it('rejects a non-positive expiry', async () => {
    // Prepare
    const store = backend.idempotency(manualClock());

    // Act
    const marking = store.markDone(unique('msg'), 0);

    // Assess
    await expect(marking).rejects.toThrow(RangeError);
  });

  it("marks a batch's keys done together and finds exactly those among others", async () => {
    // Prepare: more than one BatchWriteItem (25) and one BatchGetItem (100), a repeated key, a long one.
    const store = backend.idempotency(manualClock());
    const prefix = unique('batch');
    const marked = Array.from({ length: 130 }, (_, i) => `${prefix}#${i}#flag`);
    marked.push(`${prefix}|${'rule/'.repeat(600)}`);
    const others = Array.from({ length: 40 }, (_, i) => `${prefix}#${i}#move`);

    // Act
    await store.markAllDone!([...marked, marked[0]!], 60);
    const done = await store.doneAmong!([...others, ...marked]);

    // Assess
    expect(done).toEqual(new Set(marked));
    for (const key of [marked[0]!, marked[129]!, marked[130]!]) expect(await store.isDone(key)).toBe(true);
    expect(await store.isDone(others[0]!)).toBe(false);
  });

  it('counts expired batch records as not done', async () => {
    // Prepare
    const clock = manualClock();
    const store = backend.idempotency(clock);
    const keys = [unique('msg'), unique('msg')];
    await store.markAllDone!(keys, 60);

    // Act
    clock.advance(60_000);
    const done = await store.doneAmong!(keys);

    // Assess
    expect(done.size).toBe(0);
  });
});

describe('DynamoDB state stores', () => {
  /**
   * Makes the real emulator leave the last `drop` items of each batch request
   * unprocessed, the way DynamoDB does under throttling: they are not sent, and
   * come back as UnprocessedItems / UnprocessedKeys.
   */
  function throttledClient(drop: number): DynamoDBClient {
    const client = dynamoClient();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as {
          RequestItems?: Record<string, unknown[] | { Keys?: unknown[] }>;
        };
        const batch =
          context.commandName === 'BatchWriteItemCommand' || context.commandName === 'BatchGetItemCommand';
        const requests = input.RequestItems?.[state.tableName];
        const list = Array.isArray(requests) ? requests : requests?.Keys;
        if (!batch || !list || list.length <= drop) return next(args);
        const kept = list.slice(0, list.length - drop);
        const left = list.slice(list.length - drop);
        const sent = Array.isArray(requests) ? kept : { ...requests, Keys: kept };
        const result = await next({
          ...args,
          input: { ...input, RequestItems: { [state.tableName]: sent } },
        });
        const output = result.output as unknown as Record<string, unknown>;
        if (Array.isArray(requests)) output.UnprocessedItems = { [state.tableName]: left };
        else output.UnprocessedKeys = { [state.tableName]: { ...requests, Keys: left } };
        return result;
      },
      { step: 'serialize', priority: 'high', name: 'throttleBatches' },
    );
    return client;
  }

  it('retries items DynamoDB left unprocessed until every fingerprint is written and found', async () => {
    // Prepare
    const log = new DynamoDeliveryLog({ client: throttledClient(5), tableName: state.tableName });
    const account = unique('account');
    const fingerprints = Array.from({ length: 260 }, (_, i) => `<t${i}@throttle.example>|${i}`);

    // Act
    await log.record(account, 'INBOX', fingerprints);
    const found = await log.findDelivered(account, 'INBOX', fingerprints);
    const foundUnthrottled = await new DynamoDeliveryLog({
      client: dynamoClient(),
      tableName: state.tableName,
    }).findDelivered(account, 'INBOX', fingerprints);

    // Assess
    expect(found).toEqual(new Set(fingerprints));
    expect(foundUnthrottled).toEqual(new Set(fingerprints));
  });

  it('fails with a retryable error when items stay unprocessed', async () => {
    // Prepare
    const log = new DynamoDeliveryLog({
      client: throttledClient(5),
      tableName: state.tableName,
      maxRetries: 0,
    });

    // Act
    const recording = log.record(unique('account'), 'INBOX', [
      '<a@x>',
      '<b@x>',
      '<c@x>',
      '<d@x>',
      '<e@x>',
      '<f@x>',
    ]);

    // Assess
    await expect(recording).rejects.toSatisfy(
      (error) => error instanceof PostroomError && error.code === 'STATE_STORE_INCOMPLETE' && error.retryable,
    );
  });

  it('retries idempotency records DynamoDB left unprocessed until every one is written and found', async () => {
    // Prepare
    const store = new DynamoIdempotencyStore({ client: throttledClient(7), tableName: state.tableName });
    const keys = Array.from({ length: 60 }, () => unique('idem'));

    // Act
    await store.markAllDone(keys, 60);
    const found = await store.doneAmong(keys);
    const direct = new DynamoIdempotencyStore({ client: dynamoClient(), tableName: state.tableName });

    // Assess
    expect(found).toEqual(new Set(keys));
    expect(await direct.doneAmong(keys)).toEqual(new Set(keys));
  });

  it('fails a batch of records with a retryable error when items stay unprocessed', async () => {
    // Prepare
    const store = new DynamoIdempotencyStore({
      client: throttledClient(2),
      tableName: state.tableName,
      maxRetries: 0,
    });

    // Act
    const marking = store.markAllDone([unique('idem'), unique('idem'), unique('idem')]);

    // Assess
    await expect(marking).rejects.toSatisfy(
      (error) => error instanceof PostroomError && error.code === 'STATE_STORE_INCOMPLETE' && error.retryable,
    );
  });

  it('reaches the emulator through AWS_ENDPOINT_URL_DYNAMODB when given no client', async () => {
    // Prepare
    const restore = useDynamoEnv(state.endpoint);
    try {
      const store = new DynamoCheckpointStore({ tableName: state.tableName });
      const account = unique('account');

      // Act
      await store.advance(account, 'INBOX', { uidValidity: 7, lastUid: 1, uidNext: 2 }, undefined);

      // Assess
      const direct = new DynamoCheckpointStore({ client: dynamoClient(), tableName: state.tableName });
      expect(await direct.get(account, 'INBOX')).toEqual({ uidValidity: 7, lastUid: 1, uidNext: 2 });
    } finally {
      restore();
    }
  });

  it('creates the state table through a document client as well', async () => {
    // Prepare
    const client = DynamoDBDocumentClient.from(dynamoClient());
    const name = unique('postroom-table');

    // Act
    await createTable(client, name);

    // Assess
    const store = new DynamoIdempotencyStore({ client, tableName: name });
    await store.markDone('k');
    expect(await store.isDone('k')).toBe(true);
  });
});
