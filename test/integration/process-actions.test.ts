/**
 * Every kind of rule action, end to end: APPEND → poll → the local driver →
 * what the server, the blob store and events.jsonl show afterwards.
 */
import { describe, expect, it } from 'vitest';
import { mailboxKeySegment } from '#lib/core/keys.ts';
import { textMessage } from '../fixtures/messages.ts';
import { createMailbox } from '../helpers/dovecot.ts';
import { allActions, itemsByUid, ruleFixture, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

async function streamBytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** The rule language's example rules (the contract), plus a catch-all that shows which messages `stop` kept from later rules. */
const contractRules = [
  {
    name: 'invoices',
    when: { all: [{ from: { domain: 'acme.example' } }, { attachment: { name: { matches: '*.pdf' } } }] },
    then: [{ move: 'Finance/Invoices' }, { emit: 'invoice.received' }],
    stop: true,
  },
  {
    name: 'alerts',
    when: { subject: { contains: '[alert]' } },
    then: [{ flag: ['\\Flagged', 'alert'] }, { emit: 'alert.received' }],
  },
  {
    name: 'newsletters',
    when: { header: { name: 'List-Id', exists: true } },
    then: [{ copy: 'Newsletters' }, { flag: ['\\Seen'] }],
  },
  { name: 'prizes', when: { subject: { regex: 'gewinn(spiel)?' } }, then: [{ delete: true }] },
  { name: 'lunch', when: { subject: 'Lunch tomorrow' }, then: [{ unflag: '\\Answered' }] },
  { name: 'auto-replies', when: { autoReply: true }, then: [{ flag: 'auto-reply' }, { stop: true }] },
  { name: 'everything', then: [{ flag: 'seen-by-everything' }] },
];

describe('rule actions through the whole pipeline', () => {
  it('flags, unflags, copies, moves into a folder it creates, deletes, emits and stops, as the contract says', async () => {
    // Prepare
    const harness = await harnessWith({ rules: contractRules });
    const [invoice, alert, newsletter, prize, plain, autoreply] = await harness.append([
      ruleFixture('invoice.eml'),
      ruleFixture('alert.eml'),
      ruleFixture('newsletter.eml'),
      ruleFixture('prize.eml'),
      { raw: ruleFixture('plain.eml'), flags: ['\\Answered', '\\Seen'] },
      ruleFixture('autoreply.eml'),
    ]);
    expect(await harness.mailboxes()).not.toContain('Finance/Invoices');
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess: the server
    const inbox = await harness.flags();
    expect([...inbox.keys()]).toEqual([alert, newsletter, plain, autoreply]);
    expect(inbox.get(alert!)).toEqual(expect.arrayContaining(['\\Flagged', 'alert', 'seen-by-everything']));
    expect(inbox.get(newsletter!)).toEqual(expect.arrayContaining(['\\Seen', 'seen-by-everything']));
    expect(inbox.get(plain!)).toEqual(expect.arrayContaining(['\\Seen', 'seen-by-everything']));
    expect(inbox.get(plain!)).not.toContain('\\Answered');
    // stop (as an action): the catch-all rule never saw the auto-reply.
    expect(inbox.get(autoreply!)).toContain('auto-reply');
    expect(inbox.get(autoreply!)).not.toContain('seen-by-everything');
    expect(await harness.mailboxes()).toEqual(expect.arrayContaining(['Finance', 'Finance/Invoices']));
    const invoices = await harness.flags('Finance/Invoices');
    expect(invoices.size).toBe(1);
    // stop (on the rule): the moved invoice was not flagged by the catch-all either.
    expect([...invoices.values()][0]).not.toContain('seen-by-everything');
    expect((await harness.flags('Newsletters')).size).toBe(1);

    // Assess: events.jsonl
    const events = harness.events();
    expect(events.map((e) => [e.source, e['detail-type'], e.detail.uid])).toEqual([
      ['postroom', 'invoice.received', invoice],
      ['postroom', 'alert.received', alert],
    ]);
    expect(events[0]!.detail).toMatchObject({
      v: 1,
      rule: 'invoices',
      account: 'test',
      mailbox: 'INBOX',
      messageId: '<invoice-2026-001@acme.example>',
      envelope: { subject: 'Invoice 2026-001' },
      blob: { key: expect.stringMatching(/^raw\/test\/INBOX\/\d+\/\d+\.eml$/) },
    });

    // Assess: the results
    const items = itemsByUid(results);
    expect(items.get(invoice!)!.actions).toEqual([
      { rule: 'invoices', kind: 'move', detail: 'Finance/Invoices', status: 'done', note: 'move' },
      { rule: 'invoices', kind: 'emit', detail: 'invoice.received', status: 'done' },
    ]);
    // Flags run before the disposition: after an EXPUNGE the UID would be gone.
    expect(items.get(prize!)!.actions).toEqual([
      { rule: 'everything', kind: 'flag', detail: 'seen-by-everything', status: 'done' },
      { rule: 'prizes', kind: 'delete', status: 'done', note: 'expunge' },
    ]);
    expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
    expect(harness.queue.stats()).toMatchObject({ queued: 0, inFlight: 0, deadLetter: 0 });
  });

  it('makes a second move a copy, and deletes only its own UID, sparing a message the user marked \\Deleted', async () => {
    // Prepare
    const harness = await harnessWith({
      proxy: true,
      rules: [
        { name: 'by-subject', when: { subject: 'Invoice' }, then: [{ move: 'Invoices' }] },
        { name: 'by-sender', when: { from: { domain: 'acme.example' } }, then: [{ move: 'Suppliers/Acme' }] },
        { name: 'prizes', when: { subject: { regex: 'gewinn' } }, then: [{ delete: true }] },
      ],
    });
    const [invoice, prize, handDeleted, kept] = await harness.append([
      ruleFixture('invoice.eml'),
      ruleFixture('prize.eml'),
      { raw: textMessage(1, { namespace: harness.user.user }), flags: ['\\Deleted'] },
      textMessage(2, { namespace: harness.user.user }),
    ]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    expect(await harness.uids()).toEqual([handDeleted, kept]);
    expect((await harness.flags()).get(handDeleted!)).toContain('\\Deleted');
    expect(await harness.uids('Invoices')).toHaveLength(1);
    expect(await harness.uids('Suppliers/Acme')).toHaveLength(1);
    expect(itemsByUid(results).get(invoice!)!.actions).toEqual([
      { rule: 'by-sender', kind: 'copy', detail: 'Suppliers/Acme', status: 'done' },
      { rule: 'by-subject', kind: 'move', detail: 'Invoices', status: 'done', note: 'move' },
    ]);
    expect(itemsByUid(results).get(prize!)!.actions).toEqual([
      { rule: 'prizes', kind: 'delete', status: 'done', note: 'expunge' },
    ]);
    // Never a plain EXPUNGE (it would take the hand-deleted message too), never CLOSE on a writable mailbox.
    const sent = harness.proxy!.commands();
    expect(sent).toContain('UID EXPUNGE');
    expect(sent).not.toContain('EXPUNGE');
    expect(sent).not.toContain('CLOSE');
  });

  it('moves to a special-use folder found by LIST, whatever the server calls it', async () => {
    // Prepare: this Dovecot marks "Junk" as \Junk (RFC 6154).
    const harness = await harnessWith({
      rules: [{ name: 'bulk', when: { bulk: true }, then: [{ move: { specialUse: '\\Junk' } }] }],
    });
    await harness.withClient((client) => createMailbox(client, 'Junk'));
    await harness.append([ruleFixture('newsletter.eml'), ruleFixture('plain.eml')]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    expect(await harness.uids()).toHaveLength(1);
    expect(await harness.uids('Junk')).toHaveLength(1);
    expect(allActions(results)).toEqual([
      expect.objectContaining({ kind: 'move', detail: '\\Junk', status: 'done' }),
    ]);
  });

  it('saves attachments to the blob store under the prefix, decoded, and emits after saving', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        {
          name: 'pdfs',
          when: { attachment: { type: 'application/pdf' } },
          then: [{ saveAttachments: { prefix: 'attachments/pdf/' } }, { emit: 'pdf.saved' }],
        },
      ],
    });
    const raw = ruleFixture('invoice.eml');
    const [uid] = await harness.append([raw, ruleFixture('plain.eml')]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    const [queued] = harness.events().map((e) => e.detail);
    const key = `attachments/pdf/test/${mailboxKeySegment('INBOX')}/${queued!.uidValidity}/${uid}/1-invoice-2026-001.pdf`;
    const pdf = Buffer.from(
      /base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n\r?\n--b1--/.exec(raw.toString())![1]!,
      'base64',
    );
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(await streamBytes(await harness.runtime.stores.blobs.get(key))).toEqual(pdf);
    expect(allActions(results)).toEqual([
      expect.objectContaining({ uid, kind: 'saveAttachments', status: 'done', note: '1 attachment(s)' }),
      expect.objectContaining({ uid, kind: 'emit', detail: 'pdf.saved', status: 'done' }),
    ]);
  });
});
