/**
 * Change events against the private Dovecot (CONDSTORE): another client flags
 * and expunges delivered mail; the poller of a `changes: true` mailbox emits
 * `message.flags-changed` and `message.expunged` once each: again polled, after
 * a crash between emitting and storing its state, and from a restarted
 * runtime on the same store. Every event is validated against the schema.
 */
import { describe, expect, it } from 'vitest';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { changesStateKey } from '#lib/core/changes.ts';
import { pollAccount } from '#lib/core/poll.ts';
import type { BlobStore } from '#lib/ports.ts';
import { textMessage } from '../fixtures/messages.ts';
import { setFlags } from '../helpers/dovecot.ts';
import { capturingLogger, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

describe('change events (changes: true)', () => {
  it('emits flag changes and expunges by another client once, across a crash and a restart', async () => {
    // Prepare: three delivered messages, their flags recorded by the first poll.
    const harness = await harnessWith({
      rules: [],
      accountSettings: { mailboxes: [{ name: 'INBOX', changes: true }] },
    });
    const [a, b, c] = await harness.append([textMessage(1), textMessage(2), textMessage(3)]);
    expect((await harness.poll()).mailboxes[0]).toMatchObject({ outcome: 'done', fetched: 3 });
    expect(harness.events()).toEqual([]);
    await harness.withClient(async (client) => {
      await setFlags(client, 'INBOX', [a!], ['\\Flagged', 'todo']);
      const lock = await client.getMailboxLock('INBOX');
      try {
        await client.messageDelete(String(b), { uid: true });
      } finally {
        lock.release();
      }
    });

    // Act 1: the poller crashes after emitting, before storing its state (the state put fails once).
    const blobs = harness.runtime.stores.blobs;
    const stateKey = changesStateKey(
      'test',
      'INBOX',
      (await harness.runtime.stores.checkpoints.get('test', 'INBOX'))!.uidValidity,
    );
    let failNext = true;
    const crashing: BlobStore = {
      ...blobs,
      get: (key) => blobs.get(key),
      exists: (key) => blobs.exists(key),
      put: async (key, body, options) => {
        if (key === stateKey && failNext) {
          failNext = false;
          throw new Error('simulated crash before the change state was stored');
        }
        return blobs.put(key, body, options);
      },
    };
    const deps = { ...harness.runtime.pollDependencies('crashing'), blobs: crashing };
    await expect(
      pollAccount(deps, { account: harness.account, ingest: harness.config.ingest }),
    ).rejects.toThrow(/simulated crash/);
    // Act 2: polled again, normally.
    await harness.poll();

    // Assess: each change once, with old and new flags.
    const changes = harness.events().map((e) => ({ type: e['detail-type'], ...e.detail }));
    expect(changes).toEqual([
      expect.objectContaining({
        type: 'message.flags-changed',
        account: 'test',
        mailbox: 'INBOX',
        uid: a,
        previousFlags: [],
        flags: ['\\Flagged', 'todo'],
        added: ['\\Flagged', 'todo'],
        removed: [],
      }),
      expect.objectContaining({ type: 'message.expunged', uid: b, previousFlags: [] }),
    ]);

    // Act 3: a restarted runtime on the same store sees nothing new, then one more change.
    const logs: never[] = [];
    const restarted = await openRuntime(harness.config, {
      logger: capturingLogger(logs),
      env: { ...process.env, POSTROOM_TEST_PASSWORD: harness.user.password },
    });
    const pollRestarted = () =>
      pollAccount(restarted.pollDependencies('restarted'), {
        account: harness.account,
        ingest: harness.config.ingest,
      });
    await pollRestarted();
    expect(harness.events()).toHaveLength(2);
    await harness.withClient((client) => setFlags(client, 'INBOX', [c!], ['\\Seen']));
    await pollRestarted();
    await pollRestarted();
    await restarted.close();

    // Assess
    const last = harness.events().slice(2);
    expect(last).toEqual([
      expect.objectContaining({
        'detail-type': 'message.flags-changed',
        detail: expect.objectContaining({ uid: c, previousFlags: [], flags: ['\\Seen'], added: ['\\Seen'] }),
      }),
    ]);
    expect(new Set(harness.events().map((e) => e.detail.id)).size).toBe(3);
  });
});
