/**
 * A batch's idempotency records go up together, after the server did the
 * command: one `markAllDone` per (action, target) group. When that write
 * fails, each record is tried on its own, so only a message whose record
 * really failed stays queued, and its redelivery finds the effect.
 */
import { describe, expect, it } from 'vitest';
import type { IdempotencyStore } from '#lib/ports.ts';
import { textMessage } from '../fixtures/messages.ts';
import { trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

describe('idempotency records of a batch', () => {
  it('writes one batch of records per server command, each after its command', async () => {
    // Prepare
    const harness = await harnessWith({
      proxy: true,
      rules: [
        { name: 'file', when: { subject: 'Message' }, then: [{ flag: ['\\Seen'] }, { move: 'Filed' }] },
      ],
    });
    await harness.append(
      Array.from({ length: 6 }, (_, i) => textMessage(i, { namespace: harness.user.user, bytes: 512 })),
    );
    await harness.poll();
    const real = harness.runtime.stores.idempotency;
    const writes: { keys: number; commandsBefore: string[] }[] = [];
    let single = 0;
    const counting: IdempotencyStore = {
      isDone: (key) => real.isDone(key),
      doneAmong: (keys) => real.doneAmong!(keys),
      markDone: async (key, ttl) => {
        single += 1;
        await real.markDone(key, ttl);
      },
      markAllDone: async (keys, ttl) => {
        writes.push({ keys: keys.length, commandsBefore: harness.proxy!.commands() });
        await real.markAllDone!(keys, ttl);
      },
    };
    const { items } = await harness.receive();
    harness.proxy!.reset();

    // Act
    const result = await harness.process(items, { idempotency: counting });

    // Assess
    expect(result.actions).toEqual({ flag: 6, move: 6 });
    expect(single).toBe(0);
    expect(writes.map((w) => w.keys)).toEqual([6, 6]);
    expect(writes[0]!.commandsBefore.at(-1)).toBe('UID STORE');
    expect(writes[1]!.commandsBefore.at(-1)).toBe('UID MOVE');
  });

  it('keeps only the message whose record failed queued, and its redelivery copies nothing twice', async () => {
    // Prepare: the batched write fails, and so does message 3's own record, once.
    const harness = await harnessWith({
      rules: [{ name: 'keep', when: { subject: 'Message' }, then: [{ copy: 'Kept' }] }],
    });
    await harness.append(
      Array.from({ length: 4 }, (_, i) => textMessage(i, { namespace: harness.user.user, bytes: 512 })),
    );
    await harness.poll();
    const real = harness.runtime.stores.idempotency;
    let crashes = 0;
    const failing: IdempotencyStore = {
      isDone: (key) => real.isDone(key),
      markDone: async (key, ttl) => {
        if (key.includes('/3.eml#') && crashes++ === 0) throw new Error('simulated crash before the record');
        await real.markDone(key, ttl);
      },
      markAllDone: async () => {
        throw new Error('simulated failure of the batched write');
      },
    };
    const first = await harness.receive();

    // Act
    const result = await harness.process(first.items, { idempotency: failing });
    for (const [i, item] of result.items.entries()) {
      const receipt = first.received[i]!.receipt;
      if (item.status === 'done') await harness.runtime.stores.consumer!.ack(receipt);
      else await harness.runtime.stores.consumer!.release(receipt, 'record failed');
    }
    const redelivery = await harness.receive();
    const second = await harness.process(redelivery.items);

    // Assess
    expect(result.items.map((i) => [i.uid, i.status])).toEqual([
      [1, 'done'],
      [2, 'done'],
      [3, 'failed'],
      [4, 'done'],
    ]);
    expect(result.items[2]!.actions[0]!.note).toContain('done, but not recorded');
    expect(redelivery.items.map((i) => [i.message.uid, i.receiveCount])).toEqual([[3, 2]]);
    expect(second.items[0]).toMatchObject({
      status: 'done',
      actions: [{ kind: 'copy', status: 'already-done', note: 'found in Kept' }],
    });
    expect(await harness.uids('Kept')).toHaveLength(4);
  });
});
