/**
 * The process use case on servers that lack extensions (the Dovecot variants
 * without MOVE and without UIDPLUS), and on mailboxes that changed between the
 * poll and the processing (a message gone, a mailbox re-created with a new
 * UIDVALIDITY). A counting proxy shows which commands went over the wire.
 */
import { describe, expect, it } from 'vitest';
import { textMessage } from '../fixtures/messages.ts';
import { appendMessages, createMailbox, deleteMailbox, mailboxStatus } from '../helpers/dovecot.ts';
import { allActions, itemsByUid, ruleFixture, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

const moveAndDelete = [
  { name: 'archive', when: { subject: 'Text message' }, then: [{ move: 'Archive/2026' }] },
  { name: 'prizes', when: { subject: { regex: 'gewinn' } }, then: [{ delete: true }] },
];

describe('process on servers without MOVE or UIDPLUS', () => {
  it('moves by UID COPY + UID STORE \\Deleted + UID EXPUNGE without MOVE, never a plain EXPUNGE', async () => {
    // Prepare
    const harness = await harnessWith({ variant: 'noMove', proxy: true, rules: moveAndDelete });
    const ns = harness.user.user;
    const [first, handDeleted, second] = await harness.append([
      textMessage(1, { namespace: ns }),
      { raw: textMessage(2, { namespace: ns, subject: 'Mine' }), flags: ['\\Deleted'] },
      textMessage(3, { namespace: ns }),
    ]);
    await harness.poll();
    harness.proxy!.reset();

    // Act
    const results = await harness.drain();

    // Assess
    expect(await harness.uids()).toEqual([handDeleted]);
    expect(await harness.uids('Archive/2026')).toHaveLength(2);
    const sent = harness.proxy!.commands();
    expect(sent.filter((c) => /MOVE|COPY|STORE|EXPUNGE|CLOSE/.test(c))).toEqual([
      'UID COPY',
      'UID STORE',
      'UID EXPUNGE',
    ]);
    const items = itemsByUid(results);
    for (const uid of [first, second]) {
      expect(items.get(uid!)!.actions).toEqual([
        { rule: 'archive', kind: 'move', detail: 'Archive/2026', status: 'done', note: 'copy+expunge' },
      ]);
    }
  });

  it('without UIDPLUS leaves a deleted message marked \\Deleted, says so, and expunges nothing', async () => {
    // Prepare
    const harness = await harnessWith({ variant: 'noUidplus', proxy: true, rules: moveAndDelete });
    const [prize, handDeleted] = await harness.append([
      ruleFixture('prize.eml'),
      { raw: textMessage(2, { namespace: harness.user.user, subject: 'Mine' }), flags: ['\\Deleted'] },
    ]);
    await harness.poll();
    harness.proxy!.reset();

    // Act
    const results = await harness.drain();

    // Assess
    expect(await harness.uids()).toEqual([prize, handDeleted]);
    expect((await harness.flags()).get(prize!)).toContain('\\Deleted');
    expect(itemsByUid(results).get(prize!)).toMatchObject({
      status: 'done',
      actions: [
        {
          rule: 'prizes',
          kind: 'delete',
          status: 'left-deleted',
          note: expect.stringContaining('UIDPLUS'),
        },
      ],
    });
    // Counted as a completed delete (it is as far as this server allows).
    expect(results[0]!.actions).toEqual({ delete: 1 });
    expect(harness.logs.some((l) => l.level === 'warn' && /UIDPLUS/.test(l.message))).toBe(true);
    const sent = harness.proxy!.commands();
    expect(sent).toContain('UID STORE');
    expect(sent.filter((c) => /EXPUNGE|CLOSE/.test(c))).toEqual([]);
  });

  it('reports a message that is gone from the server as gone, without failing it', async () => {
    // Prepare
    const harness = await harnessWith({ rules: moveAndDelete });
    const [gone, stays] = await harness.append([
      textMessage(1, { namespace: harness.user.user }),
      textMessage(2, { namespace: harness.user.user }),
    ]);
    await harness.poll();
    await harness.withClient(async (client) => {
      const lock = await client.getMailboxLock('INBOX');
      try {
        await client.messageDelete(String(gone), { uid: true });
      } finally {
        lock.release();
      }
    });

    // Act
    const results = await harness.drain();

    // Assess
    const items = itemsByUid(results);
    expect(items.get(gone!)).toMatchObject({
      status: 'done',
      actions: [{ kind: 'move', status: 'gone', note: 'no longer in the mailbox' }],
    });
    expect(items.get(stays!)!.actions).toEqual([expect.objectContaining({ kind: 'move', status: 'done' })]);
    expect(await harness.uids('Archive/2026')).toHaveLength(1);
    expect(harness.queue.stats()).toMatchObject({ queued: 0, deadLetter: 0 });
  });

  it('does not act on a UID whose mailbox was re-created with a new UIDVALIDITY', async () => {
    // Prepare: a message is polled from Work, then Work is deleted and re-created,
    // and another message takes the same UID in the new incarnation.
    const harness = await harnessWith({ mailboxes: ['Work'], rules: moveAndDelete });
    const [oldUid] = await harness.append([ruleFixture('prize.eml')], 'Work');
    await harness.poll();
    const { before, after, newUid } = await harness.withClient(async (client) => {
      const before = await mailboxStatus(client, 'Work');
      await deleteMailbox(client, 'Work');
      await createMailbox(client, 'Work');
      const [newUid] = await appendMessages(client, 'Work', [
        textMessage(9, { namespace: harness.user.user, subject: 'gewinn, but not the one polled' }),
      ]);
      return { before, after: await mailboxStatus(client, 'Work'), newUid };
    });
    expect(after.uidValidity).not.toBe(before.uidValidity);
    expect(newUid).toBe(oldUid);

    // Act
    const results = await harness.drain();

    // Assess
    expect(allActions(results)).toEqual([
      expect.objectContaining({
        uid: oldUid,
        kind: 'delete',
        status: 'stale',
        note: `UIDVALIDITY is now ${after.uidValidity}; not found there by Message-ID, date and size`,
      }),
    ]);
    expect(results[0]!.items[0]!.status).toBe('done');
    expect(await harness.uids('Work')).toEqual([newUid]);
  });
});
