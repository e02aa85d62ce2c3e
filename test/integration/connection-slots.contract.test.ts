/**
 * The ConnectionSlots contract, over the SQLite and the DynamoDB (dynalite)
 * adapters: at most `limit` holders per key, however they race; slots expire,
 * are renewed only by their holder while alive, and are released only by it.
 * Each test uses a fresh key; a second store instance plays a second process.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DynamoConnectionSlots } from '#lib/adapters/aws/dynamodb-connection-slots.ts';
import { thisHost } from '#lib/adapters/local/process-holder.ts';
import { SqliteConnectionSlots } from '#lib/adapters/local/sqlite-connection-slots.ts';
import type { ConnectionSlots } from '#lib/ports.ts';
import { deadProcess } from '../helpers/processes.ts';
import { type ManualClock, manualClock, useStateBackends } from '../helpers/state-backends.ts';

const state = useStateBackends('postroom-slots-', 'process');

const backends: { name: string; slots(clock: ManualClock): ConnectionSlots }[] = [
  { name: 'sqlite', slots: (clock) => new SqliteConnectionSlots({ db: state.db, clock: clock.now }) },
  {
    name: 'dynamodb',
    slots: (clock) =>
      new DynamoConnectionSlots({
        client: state.dynamoClient(),
        tableName: state.tableName,
        clock: clock.now,
      }),
  },
];

const key = () => `user-${randomUUID()}@imap.example.net`;

describe.each(backends)('ConnectionSlots ($name)', (backend) => {
  it('gives out `limit` distinct slots and no more', async () => {
    // Prepare
    const clock = manualClock();
    const [a, b] = [backend.slots(clock), backend.slots(clock)];
    const budget = key();
    // Act
    const taken = [
      await a.tryAcquire(budget, 3, 'a', 60_000),
      await b.tryAcquire(budget, 3, 'b', 60_000),
      await a.tryAcquire(budget, 3, 'a', 60_000),
    ];
    const refused = await b.tryAcquire(budget, 3, 'b', 60_000);
    // Assess
    expect(new Set(taken).size).toBe(3);
    for (const slot of taken) expect([0, 1, 2]).toContain(slot);
    expect(refused).toBeUndefined();
    expect(await a.held(budget)).toBe(3);
  });

  it('never gives out more than `limit` when many holders race', async () => {
    // Prepare
    const clock = manualClock();
    const budget = key();
    const stores = Array.from({ length: 8 }, () => backend.slots(clock));
    // Act
    const results = await Promise.all(
      stores.map((store, i) => store.tryAcquire(budget, 3, `holder-${i}`, 60_000)),
    );
    // Assess
    const granted = results.filter((slot) => slot !== undefined);
    expect(granted.length).toBeLessThanOrEqual(3);
    expect(new Set(granted).size).toBe(granted.length);
    expect(await stores[0]!.held(budget)).toBe(granted.length);
  });

  it('frees a slot on release by its holder only', async () => {
    // Prepare
    const clock = manualClock();
    const store = backend.slots(clock);
    const budget = key();
    const slot = (await store.tryAcquire(budget, 1, 'a', 60_000))!;
    // Act
    await store.release(budget, slot, 'b');
    const whileHeld = await store.tryAcquire(budget, 1, 'b', 60_000);
    await store.release(budget, slot, 'a');
    const afterRelease = await store.tryAcquire(budget, 1, 'b', 60_000);
    // Assess
    expect(whileHeld).toBeUndefined();
    expect(afterRelease).toBe(slot);
  });

  it('lets an expired slot be taken, and its old holder can no longer renew it', async () => {
    // Prepare
    const clock = manualClock();
    const store = backend.slots(clock);
    const budget = key();
    const slot = (await store.tryAcquire(budget, 1, 'a', 1_000))!;
    // Act
    clock.advance(500);
    const renewed = await store.renew(budget, slot, 'a', 1_000);
    clock.advance(1_200);
    const renewedTooLate = await store.renew(budget, slot, 'a', 1_000);
    const heldAfterExpiry = await store.held(budget);
    const takenOver = await store.tryAcquire(budget, 1, 'b', 1_000);
    // Assess
    expect(renewed).toBe(true);
    expect(renewedTooLate).toBe(false);
    expect(heldAfterExpiry).toBe(0);
    expect(takenOver).toBe(slot);
    expect(await store.renew(budget, slot, 'a', 1_000)).toBe(false);
  });

  it('says a slot is wanted until the time the waiter gave, and no longer', async () => {
    // Prepare
    const clock = manualClock();
    const [waiter, holder] = [backend.slots(clock), backend.slots(clock)];
    const budget = key();
    const before = await holder.wanted(budget);
    // Act
    await waiter.want(budget, clock.now() + 2_000);
    const during = await holder.wanted(budget);
    clock.advance(2_500);
    const after = await holder.wanted(budget);
    // Assess
    expect([before, during, after]).toEqual([false, true, false]);
    expect(await holder.held(budget)).toBe(0);
  });

  it('counts slots numbered past a lowered limit until they end', async () => {
    // Prepare
    const clock = manualClock();
    const store = backend.slots(clock);
    const budget = key();
    for (let i = 0; i < 3; i++) await store.tryAcquire(budget, 3, `h${i}`, 60_000);
    // Act
    const refused = await store.tryAcquire(budget, 2, 'late', 60_000);
    // Assess
    expect(refused).toBeUndefined();
  });
});

describe('SqliteConnectionSlots', () => {
  it('counts a slot whose process is gone from this host as free at once', async () => {
    // Prepare
    const clock = manualClock();
    const budget = key();
    const crashed = new SqliteConnectionSlots({
      db: state.db,
      clock: clock.now,
      process: { pid: await deadProcess(), host: thisHost() },
    });
    const alive = new SqliteConnectionSlots({ db: state.db, clock: clock.now });
    await crashed.tryAcquire(budget, 1, 'crashed', 60_000);
    // Act
    const slot = await alive.tryAcquire(budget, 1, 'alive', 60_000);
    // Assess
    expect(slot).toBe(0);
    expect(await alive.held(budget)).toBe(1);
  });
});
