/**
 * A UIDVALIDITY reset between poll and process, against a real Dovecot: the
 * mailbox is deleted and re-created (a new UIDVALIDITY) and the same messages
 * are appended again with the same internal dates, at other UIDs. Every queued
 * message is found again by its fingerprint (Message-ID + internal date +
 * size) and acted on at its new UID; one that is not there any more is
 * reported as gone, in the item and in the counts, never as processed.
 */
import { describe, expect, it } from 'vitest';
import { fixtureDate, textMessage } from '../fixtures/messages.ts';
import { appendMessages, createMailbox, deleteMailbox, mailboxStatus } from '../helpers/dovecot.ts';
import { allActions, itemsByUid, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

const COUNT = 120;

describe('process after the mailbox was re-created with a new UIDVALIDITY', () => {
  it('applies every action of the queued messages at their new UIDs, and reports the one not found', async () => {
    // Prepare
    const harness = await harnessWith({
      mailboxes: ['Work'],
      rules: [
        { name: 'tag', then: [{ flag: 'tagged' }] },
        { name: 'invoices', when: { subject: 'Invoice' }, then: [{ move: 'Archive' }] },
      ],
    });
    const ns = harness.user.user;
    const message = (i: number) => ({
      raw: textMessage(i, { namespace: ns, ...(i % 5 === 0 ? { subject: `Invoice ${i}` } : {}) }),
      internalDate: fixtureDate(i),
    });
    const indices = Array.from({ length: COUNT }, (_, i) => i + 1);
    await harness.append(indices.map(message), 'Work');
    await harness.poll();
    const missing = 7;
    const { before, after, newUids } = await harness.withClient(async (client) => {
      const before = await mailboxStatus(client, 'Work');
      await deleteMailbox(client, 'Work');
      await createMailbox(client, 'Work');
      // A stranger first, so that every old UID now names another message.
      await appendMessages(client, 'Work', [
        { raw: textMessage(999, { namespace: ns, subject: 'stranger' }), internalDate: fixtureDate(999) },
      ]);
      const again = indices.filter((i) => i !== missing);
      const uids = await appendMessages(client, 'Work', again.map(message));
      return {
        before,
        after: await mailboxStatus(client, 'Work'),
        newUids: new Map(again.map((i, n) => [i, uids[n]!])),
      };
    });
    expect(after.uidValidity).not.toBe(before.uidValidity);

    // Act
    const results = await harness.drain(50);

    // Assess
    const processed = results.reduce((n, r) => n + r.processed, 0);
    const gone = results.reduce((n, r) => n + r.gone, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    expect({ processed, gone, failed }).toEqual({ processed: COUNT - 1, gone: 1, failed: 0 });
    const items = itemsByUid(results);
    expect(items.get(missing)).toMatchObject({
      status: 'done',
      actions: [
        {
          kind: 'flag',
          status: 'stale',
          note: `UIDVALIDITY is now ${after.uidValidity}; not found there by Message-ID, date and size`,
        },
      ],
    });
    for (const [i, uid] of newUids) expect(items.get(i)?.currentUid).toBe(uid);
    const work = await harness.flags('Work');
    const archive = await harness.flags('Archive');
    // The stranger (UID 1, the old UID of message 1) is untouched.
    expect(work.get(1)).toEqual([]);
    for (const [i, uid] of newUids) {
      if (i % 5 === 0) expect(work.has(uid), `message ${i} moved`).toBe(false);
      else expect(work.get(uid), `message ${i}`).toContain('tagged');
    }
    expect(archive.size).toBe(COUNT / 5);
    for (const flags of archive.values()) expect(flags).toContain('tagged');
    expect(allActions(results).filter((a) => a.status === 'failed')).toEqual([]);
    expect(harness.queue.stats()).toMatchObject({ queued: 0, inFlight: 0, deadLetter: 0 });
  });
});
