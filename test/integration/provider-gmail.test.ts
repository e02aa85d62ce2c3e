/**
 * Gmail through the real poll and process use cases, against the scripted
 * Gmail server (`gmail-imap-server.ts`): X-GM-MSGID / X-GM-THRID / labels in
 * the queue message and events, one ingest per message however many polled
 * labels show it, the `labels` condition and the `label` / `unlabel`
 * actions ending in the right labels on the server, and `delete` as a move
 * to the `\Trash` folder. A server without X-GM-EXT-1 is never sent them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  GMAIL_CAPABILITIES,
  type GmailServer,
  gmailMessage,
  startGmailServer,
} from '../helpers/gmail-imap-server.ts';
import { type ScriptedRuntime, scriptedRuntime } from '../helpers/scripted-runtime.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(
  options: { mailboxes?: string[]; rules?: unknown[]; capabilities?: string; provider?: string } = {},
): Promise<{ server: GmailServer; postroom: ScriptedRuntime }> {
  const server = await startGmailServer({
    labels: ['Invoices', 'Processed'],
    ...(options.capabilities ? { capabilities: options.capabilities } : {}),
  });
  cleanup.push(() => server.close());
  const postroom = await scriptedRuntime({
    port: server.port,
    account: {
      mailboxes: options.mailboxes ?? ['INBOX'],
      ...(options.provider ? { provider: options.provider } : {}),
    },
    rules: options.rules ?? [],
  });
  cleanup.push(() => postroom.close());
  return { server, postroom };
}

describe('Gmail (X-GM-EXT-1)', () => {
  it('carries X-GM-MSGID, X-GM-THRID and the labels in the queue message and in events', async () => {
    // Prepare
    const { server, postroom } = await setup({
      rules: [{ name: 'all', then: [{ emit: 'mail.received' }] }],
    });
    const first = server.add(gmailMessage(1), ['\\Inbox', 'Invoices', '\\Important'], { threadId: '777' });

    // Act
    const poll = await postroom.poll();
    const queued = postroom.queued();
    await postroom.drain();

    // Assert
    expect(poll.fetched).toBe(1);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.gmail).toEqual({
      msgId: first,
      threadId: '777',
      labels: expect.arrayContaining(['\\Inbox', 'Invoices', '\\Important']),
    });
    const [event] = postroom.events();
    expect(event?.detail.gmail).toEqual(queued[0]!.gmail);
    expect(server.commands.some((c) => /^UID FETCH .*X-GM-MSGID.*X-GM-THRID.*X-GM-LABELS/.test(c))).toBe(
      true,
    );
  });

  it('ingests a message shown in two polled labels once, by X-GM-MSGID, across polls too', async () => {
    // Prepare
    const { server, postroom } = await setup({ mailboxes: ['INBOX', 'Invoices'] });
    const both = server.add(gmailMessage(1), ['\\Inbox', 'Invoices']);
    const labelOnly = server.add(gmailMessage(2), ['Invoices']);

    // Act
    const first = await postroom.poll();
    // Labelled later, the first message shows in Invoices under a new UID.
    server.message(both).labels.delete('Invoices');
    server.folderUids('Invoices');
    server.message(both).labels.add('Invoices');
    const second = await postroom.poll();

    // Assert
    const ids = postroom.queued().map((m) => m.gmail?.msgId);
    expect(ids.sort()).toEqual([both, labelOnly].sort());
    expect(first.fetched).toBe(2);
    expect(first.mailboxes.find((m) => m.mailbox === 'Invoices')?.recognised).toBe(1);
    expect(second.fetched).toBe(0);
    expect(second.mailboxes.find((m) => m.mailbox === 'Invoices')?.recognised).toBe(1);
  });

  it('matches the labels condition and ends label / unlabel in the right labels on the server', async () => {
    // Prepare
    const { server, postroom } = await setup({
      rules: [
        {
          name: 'invoices',
          when: { labels: { has: 'invoices' } },
          then: [
            { label: ['Processed', '\\starred'] },
            { unlabel: 'Invoices' },
            { emit: 'invoice.received' },
          ],
        },
        { name: 'others', when: { labels: { lacks: 'Invoices' } }, then: [{ flag: '\\Flagged' }] },
      ],
    });
    const invoice = server.add(gmailMessage(1), ['\\Inbox', 'Invoices']);
    const other = server.add(gmailMessage(2), ['\\Inbox']);

    // Act
    await postroom.poll();
    const results = await postroom.drain();

    // Assert
    expect(results.flatMap((r) => r.items).every((item) => item.status === 'done')).toBe(true);
    expect([...server.message(invoice).labels].sort()).toEqual(['Processed', '\\Inbox', '\\Starred'].sort());
    expect(server.message(invoice).flags.has('\\Flagged')).toBe(false);
    expect([...server.message(other).labels]).toEqual(['\\Inbox']);
    expect(server.message(other).flags.has('\\Flagged')).toBe(true);
    expect(postroom.events().map((e) => e['detail-type'])).toEqual(['invoice.received']);
    expect(server.commands).toContain('UID STORE 1 +X-GM-LABELS ("Processed" \\Starred)');
  });

  it('reads and writes labels beyond ASCII in modified UTF-7, as Gmail keeps them on the wire', async () => {
    // Prepare
    const { server, postroom } = await setup({
      rules: [{ name: 'office', when: { labels: { has: 'Büro' } }, then: [{ label: 'Erledigt/Geprüft' }] }],
    });
    // What the server holds is the wire form: B&APw-ro is "Büro".
    const id = server.add(gmailMessage(1), ['\\Inbox', 'B&APw-ro']);

    // Act
    await postroom.poll();
    const queued = postroom.queued();
    await postroom.drain();

    // Assert
    expect(queued[0]?.gmail?.labels).toContain('Büro');
    expect(server.message(id).labels.has('Erledigt/Gepr&APw-ft')).toBe(true);
  });

  it('moves by relabelling, and does not ingest again a message a rule moved into a polled label', async () => {
    // Prepare
    const { server, postroom } = await setup({
      mailboxes: ['INBOX', 'Invoices'],
      rules: [
        { name: 'file', mailboxes: ['INBOX'], when: { subject: 'invoice' }, then: [{ move: 'Invoices' }] },
      ],
    });
    const invoice = server.add(gmailMessage(1, 'your invoice'), ['\\Inbox']);

    // Act
    const first = await postroom.poll();
    await postroom.drain();
    const second = await postroom.poll();

    // Assert
    expect([...server.message(invoice).labels]).toEqual(['Invoices']);
    expect(server.folderUids('INBOX')).toEqual([]);
    expect(first.fetched).toBe(1);
    expect(second.fetched).toBe(0);
    expect(second.mailboxes.find((m) => m.mailbox === 'Invoices')?.recognised).toBe(1);
  });

  it('deletes by moving to the \\Trash folder, not by an expunge that would only remove the label', async () => {
    // Prepare
    const { server, postroom } = await setup({
      mailboxes: ['Invoices'],
      rules: [{ name: 'bin', when: { subject: 'spam offer' }, then: [{ delete: true }] }],
    });
    const junk = server.add(gmailMessage(1, 'spam offer'), ['\\Inbox', 'Invoices']);
    const kept = server.add(gmailMessage(2, 'real invoice'), ['Invoices']);

    // Act
    await postroom.poll();
    const results = await postroom.drain();

    // Assert
    const action = results.flatMap((r) => r.items).flatMap((item) => item.actions)[0];
    expect(action).toMatchObject({ kind: 'delete', status: 'done' });
    expect(server.message(junk)).toMatchObject({ trashed: true, deleted: false });
    expect(server.folderUids('[Gmail]/Trash')).toHaveLength(1);
    expect(server.folderUids('INBOX')).toEqual([]);
    expect(server.message(kept)).toMatchObject({ trashed: false });
    expect(server.commands.some((c) => c.startsWith('UID MOVE 1 "[Gmail]/Trash"'))).toBe(true);
    expect(server.commands.some((c) => c.startsWith('UID EXPUNGE'))).toBe(false);
  });

  it('uses no Gmail extension on a server that does not announce X-GM-EXT-1, and says why a labels rule did not apply', async () => {
    // Prepare
    const { server, postroom } = await setup({
      capabilities: GMAIL_CAPABILITIES.replace(' X-GM-EXT-1', ''),
      rules: [
        { name: 'invoices', when: { labels: { has: 'Invoices' } }, then: [{ emit: 'invoice.received' }] },
      ],
    });
    server.add(gmailMessage(1), ['\\Inbox', 'Invoices']);

    // Act
    await postroom.poll();
    const queued = postroom.queued();
    const results = await postroom.drain();

    // Assert
    expect(queued).toHaveLength(1);
    expect(queued[0]!.gmail).toBeUndefined();
    expect(server.commands.some((c) => c.includes('X-GM-'))).toBe(false);
    expect(postroom.events()).toEqual([]);
    expect(results[0]?.items[0]?.warnings.join(' ')).toMatch(/rule invoices: not applied/);
  });

  it('fails a label action on a server without labels, sending it nothing', async () => {
    // Prepare
    const { server, postroom } = await setup({
      capabilities: GMAIL_CAPABILITIES.replace(' X-GM-EXT-1', ''),
      provider: 'generic',
      rules: [{ name: 'tag', then: [{ label: 'Processed' }] }],
    });
    const id = server.add(gmailMessage(1), ['\\Inbox']);

    // Act
    await postroom.poll();
    const results = await postroom.drain();

    // Assert
    const item = results.flatMap((r) => r.items)[0];
    expect(item).toMatchObject({ status: 'failed', error: { code: 'LABELS_UNSUPPORTED' } });
    expect(item?.error?.message).toMatch(/label needs a Gmail server/);
    expect([...server.message(id).labels]).toEqual(['\\Inbox']);
    expect(server.commands.some((c) => c.includes('X-GM-'))).toBe(false);
  });
});
