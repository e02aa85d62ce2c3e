/**
 * Effectively once, against a real Dovecot: a redelivered batch changes
 * nothing on the server and emits nothing new; a crash between doing a COPY
 * and recording it does not make a second copy; and a batch that all moves
 * to one folder costs one command per group after SELECT.
 */
import { describe, expect, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import type { IdempotencyStore, MailServer, ServerPath } from '#lib/ports.ts';
import { textMessage } from '../fixtures/messages.ts';
import { type ProcessHarness, ruleFixture, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

/** Every folder's UIDs and flags: what a redelivery must not change. */
async function snapshot(harness: ProcessHarness) {
  const folders = (await harness.mailboxes()).sort();
  const state: Record<string, [number, string[]][]> = {};
  for (const folder of folders) state[folder] = [...(await harness.flags(folder))];
  return state;
}

const MUTATING = /^(UID )?(STORE|COPY|MOVE|EXPUNGE)$|^(CREATE|APPEND|CLOSE)$/;

describe('effectively once', () => {
  it('changes nothing on the server and emits nothing new when a processed batch is delivered again', async () => {
    // Prepare
    const harness = await harnessWith({
      proxy: true,
      rules: [
        {
          name: 'alerts',
          when: { subject: '[alert]' },
          then: [{ flag: ['\\Flagged', 'alert'] }, { copy: 'Alerts' }, { emit: 'alert.received' }],
        },
        { name: 'lists', when: { list: true }, then: [{ move: 'Lists' }, { emit: 'list.received' }] },
        { name: 'prizes', when: { subject: { regex: 'gewinn' } }, then: [{ delete: true }] },
      ],
    });
    await harness.append([
      ruleFixture('alert.eml'),
      ruleFixture('newsletter.eml'),
      ruleFixture('prize.eml'),
      ruleFixture('plain.eml'),
    ]);
    await harness.poll();
    const { items, received } = await harness.receive();
    const first = await harness.process(items);
    for (const r of received) await harness.runtime.stores.consumer!.ack(r.receipt);
    const before = await snapshot(harness);
    const eventsBefore = harness.events();
    harness.proxy!.reset();

    // Act
    const again = await harness.process(items.map((item) => ({ ...item, receiveCount: 2 })));

    // Assess
    expect(first.failed).toBe(0);
    expect(first.actions).toEqual({ flag: 1, copy: 1, move: 1, delete: 1, emit: 2 });
    expect(again.processed).toBe(4);
    expect(again.actions).toEqual({});
    expect(again.items.flatMap((i) => i.actions.map((a) => a.status))).toEqual(Array(6).fill('already-done'));
    expect(harness.proxy!.commands().filter((c) => MUTATING.test(c))).toEqual([]);
    expect(await snapshot(harness)).toEqual(before);
    expect(harness.events()).toEqual(eventsBefore);
    expect(eventsBefore).toHaveLength(2);
  });

  it('finds the copy by Message-ID after a crash between COPY and its record, and copies once', async () => {
    // Prepare: the record of the COPY fails once, right after the server did it.
    const harness = await harnessWith({
      rules: [{ name: 'keep', when: { subject: 'Lunch' }, then: [{ copy: 'Kept' }, { emit: 'kept' }] }],
    });
    await harness.append([ruleFixture('plain.eml')]);
    await harness.poll();
    const real = harness.runtime.stores.idempotency;
    let crashes = 0;
    const crashOnce: IdempotencyStore = {
      isDone: (key) => real.isDone(key),
      markDone: async (key, ttl) => {
        if (key.endsWith('#copy') && crashes === 0) {
          crashes += 1;
          throw new Error('simulated crash between COPY and its record');
        }
        await real.markDone(key, ttl);
      },
    };
    const firstDelivery = await harness.receive();
    const first = await harness.process(firstDelivery.items, { idempotency: crashOnce });
    await harness.runtime.stores.consumer!.release(firstDelivery.received[0]!.receipt, 'crashed');
    expect(first.items[0]!.status).toBe('failed');
    expect(await harness.uids('Kept')).toHaveLength(1);

    // Act: the queue delivers it again (receive count 2).
    const redelivery = await harness.receive();
    const second = await harness.process(redelivery.items);

    // Assess
    expect(redelivery.items[0]!.receiveCount).toBe(2);
    expect(crashes).toBe(1);
    expect(second.items[0]).toMatchObject({
      status: 'done',
      actions: [
        { kind: 'copy', status: 'already-done', note: 'found in Kept' },
        { kind: 'emit', status: 'done' },
      ],
    });
    expect(await harness.uids('Kept')).toHaveLength(1);
    expect(harness.events()).toHaveLength(1);
  });

  it('finishes an interrupted MOVE fallback on redelivery without a second copy', async () => {
    // Prepare: a server without MOVE; the session "crashes" right after the UID COPY
    // of the fallback, before UID STORE \Deleted and UID EXPUNGE.
    const harness = await harnessWith({
      variant: 'noMove',
      rules: [{ name: 'file', when: { subject: 'Lunch' }, then: [{ move: 'Filed' }] }],
    });
    const [uid] = await harness.append([ruleFixture('plain.eml')]);
    await harness.poll();
    const openCrashingSession = async (account: AccountConfig): Promise<MailServer> => {
      const session = await harness.runtime.openSession(account);
      return new Proxy(session, {
        get(target, property, receiver) {
          if (property !== 'move') return Reflect.get(target, property, receiver);
          return async (uids: number[], path: ServerPath) => {
            await target.copy(uids, path);
            throw new Error('simulated crash after the UID COPY of a MOVE fallback');
          };
        },
      });
    };
    const firstDelivery = await harness.receive();
    const first = await harness.process(firstDelivery.items, { openSession: openCrashingSession });
    await harness.runtime.stores.consumer!.release(firstDelivery.received[0]!.receipt, 'crashed');
    expect(first.items[0]!.status).toBe('failed');
    expect(await harness.uids()).toEqual([uid]);
    expect(await harness.uids('Filed')).toHaveLength(1);

    // Act
    const second = await harness.process((await harness.receive()).items);

    // Assess
    expect(second.items[0]).toMatchObject({
      status: 'done',
      actions: [
        {
          kind: 'move',
          status: 'done',
          note: 'found in Filed; removed from the source (expunge)',
        },
      ],
    });
    expect(await harness.uids()).toEqual([]);
    expect(await harness.uids('Filed')).toHaveLength(1);
  });

  it('moves a batch of 10 messages to one folder with at most 2 commands after SELECT', async () => {
    // Prepare
    const harness = await harnessWith({
      proxy: true,
      rules: [{ name: 'all-to-bulk', then: [{ move: 'Bulk' }] }],
    });
    await harness.append(
      Array.from({ length: 10 }, (_, i) => textMessage(i, { namespace: harness.user.user, bytes: 1024 })),
    );
    await harness.poll();
    harness.proxy!.reset();

    // Act
    const results = await harness.drain(10);

    // Assess
    expect(results).toHaveLength(1);
    expect(results[0]!.actions).toEqual({ move: 10 });
    const sent = harness.proxy!.commands();
    expect(sent.filter((c) => c === 'SELECT')).toHaveLength(1);
    const afterSelect = sent.slice(sent.indexOf('SELECT') + 1).filter((c) => c !== 'LOGOUT');
    expect(afterSelect).toEqual(['UID SEARCH', 'UID MOVE']);
    expect(await harness.uids('Bulk')).toHaveLength(10);
    expect(await harness.uids()).toEqual([]);
  });
});
