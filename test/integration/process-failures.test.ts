/**
 * Bad input and lasting failures through the whole pipeline: a message the
 * parser gives up on, a raw message lost from the blob store, a target folder
 * the server does not have, a mailbox deleted after the poll, a rule that
 * would move mail into the mailbox it came from. One bad message never blocks
 * the rest of its batch; one that keeps failing ends in the dead-letter store.
 */
import { describe, expect, it } from 'vitest';
import { rawBlobKey } from '#lib/core/keys.ts';
import { textMessage } from '../fixtures/messages.ts';
import { deleteMailbox, mailboxStatus } from '../helpers/dovecot.ts';
import {
  allActions,
  itemsByUid,
  type ProcessHarness,
  ruleFixture,
  trackedHarnesses,
  unparseableMessage,
} from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

/** Where the poller stored a message of INBOX (the blob key contract, DESIGN.md). */
async function blobKeyOf(harness: ProcessHarness, uid: number): Promise<string> {
  const { uidValidity } = await harness.withClient((client) => mailboxStatus(client, 'INBOX'));
  return rawBlobKey({ account: harness.account.id, mailbox: 'INBOX', uidValidity, uid });
}

describe('process with bad input and lasting failures', () => {
  it('applies the envelope-level rules to a message the parser gives up on, and warns', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        { name: 'by-sender', when: { from: { domain: 'nest.example' } }, then: [{ flag: 'envelope-rule' }] },
        { name: 'by-body', when: { body: 'x' }, then: [{ flag: 'body-rule' }] },
      ],
    });
    const [uid] = await harness.append([unparseableMessage()]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    const item = itemsByUid(results).get(uid!)!;
    expect(item.status).toBe('done');
    expect(item.matched).toEqual(['by-sender']);
    expect(item.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('message could not be parsed'),
        expect.stringContaining('rule by-body: not applied'),
      ]),
    );
    expect((await harness.flags()).get(uid!)).toEqual(['envelope-rule']);
    expect(
      harness.logs.some(
        (l) => l.level === 'warn' && JSON.stringify(l.attributes).includes('message could not be parsed'),
      ),
    ).toBe(true);
  });

  it('dead-letters a message whose raw copy is lost after maxReceives, without holding up its batch', async () => {
    // Prepare
    const harness = await harnessWith({
      maxReceives: 2,
      rules: [
        {
          name: 'lists',
          when: { header: { name: 'X-Tag', exists: false } },
          then: [{ flag: 'seen-by-rules' }],
        },
      ],
    });
    const uids = await harness.append([1, 2, 3].map((i) => textMessage(i, { namespace: harness.user.user })));
    await harness.poll();
    const lost = uids[1]!;
    await harness.deleteBlob(await blobKeyOf(harness, lost));

    // Act: two runs of the driver (each tries a failed message once).
    const first = await harness.drain();
    // One attempt is not maxReceives (2) attempts: nothing is dead-lettered yet.
    const deadAfterFirstRun = harness.queue.deadLetters();
    const second = await harness.drain();

    // Assess
    expect(first).toHaveLength(1);
    expect(first[0]!.items.map((i) => [i.uid, i.status])).toEqual([
      [uids[0], 'done'],
      [lost, 'failed'],
      [uids[2], 'done'],
    ]);
    expect(first[0]!.items[1]!.error).toMatchObject({ code: 'BLOB_NOT_FOUND' });
    expect(deadAfterFirstRun).toEqual([]);
    expect(second.flatMap((r) => r.items.map((i) => [i.uid, i.status]))).toEqual([[lost, 'failed']]);
    const flags = await harness.flags();
    expect(flags.get(uids[0]!)).toContain('seen-by-rules');
    expect(flags.get(uids[2]!)).toContain('seen-by-rules');
    expect(flags.get(lost)).not.toContain('seen-by-rules');
    const dead = harness.queue.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      uid: lost,
      receiveCount: 2,
      reason: expect.stringContaining('no blob at'),
    });
    expect(harness.queue.stats()).toMatchObject({ queued: 0, inFlight: 0, deadLetter: 1 });
  });

  it('never reads the raw message when every rule decides on the envelope', async () => {
    // Prepare: the blobs are gone, but no rule needs more than the queue message.
    const harness = await harnessWith({
      rules: [
        {
          name: 'alerts',
          when: { subject: '[alert]', from: { domain: 'ops.example' } },
          then: [{ flag: 'alert' }],
        },
      ],
    });
    const [alert, plain] = await harness.append([ruleFixture('alert.eml'), ruleFixture('plain.eml')]);
    await harness.poll();
    for (const uid of [alert!, plain!]) await harness.deleteBlob(await blobKeyOf(harness, uid));

    // Act
    const results = await harness.drain();

    // Assess
    expect(results[0]!.items.map((i) => i.status)).toEqual(['done', 'done']);
    const flags = await harness.flags();
    expect(flags.get(alert!)).toContain('alert');
    expect(flags.get(plain!)).not.toContain('alert');
  });

  it('fails only the message whose special-use target the server lacks', async () => {
    // Prepare: Dovecot knows \Archive as "Archive", but the user has no such folder.
    const harness = await harnessWith({
      rules: [
        { name: 'archive', when: { subject: 'Lunch' }, then: [{ move: { specialUse: '\\Archive' } }] },
        { name: 'alerts', when: { subject: '[alert]' }, then: [{ flag: 'alert' }] },
      ],
    });
    const [plain, alert] = await harness.append([ruleFixture('plain.eml'), ruleFixture('alert.eml')]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    const items = itemsByUid(results);
    expect(items.get(plain!)).toMatchObject({ status: 'failed', error: { code: 'FOLDER_NOT_FOUND' } });
    expect(items.get(alert!)).toMatchObject({ status: 'done' });
    expect((await harness.flags()).get(alert!)).toContain('alert');
    expect(await harness.uids()).toEqual([plain, alert]);
  });

  it('reports the messages of a mailbox deleted since the poll as gone', async () => {
    // Prepare
    const harness = await harnessWith({
      mailboxes: ['Projects'],
      rules: [{ name: 'flag-all', then: [{ flag: 'seen-by-rules' }] }],
    });
    await harness.append([textMessage(1, { namespace: harness.user.user })], 'Projects');
    await harness.poll();
    await harness.withClient((client) => deleteMailbox(client, 'Projects'));

    // Act
    const results = await harness.drain();

    // Assess
    expect(results[0]!.items[0]).toMatchObject({
      status: 'done',
      actions: [{ kind: 'flag', status: 'gone' }],
    });
    expect(harness.queue.stats()).toMatchObject({ queued: 0, deadLetter: 0 });
  });

  it('skips a copy or move into the mailbox the message is already in, so it is not polled again', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        { name: 'copy-home', when: { subject: 'Lunch' }, then: [{ copy: 'INBOX' }] },
        { name: 'move-home', when: { subject: '[alert]' }, then: [{ move: 'INBOX' }] },
      ],
    });
    const uids = await harness.append([ruleFixture('plain.eml'), ruleFixture('alert.eml')]);
    await harness.poll();

    // Act
    const results = await harness.drain();
    const again = await harness.poll();

    // Assess
    expect(await harness.uids()).toEqual(uids);
    expect(again.fetched).toBe(0);
    expect(allActions(results).map((a) => [a.kind, a.status])).toEqual([
      ['copy', 'skipped'],
      ['move', 'skipped'],
    ]);
  });
});
