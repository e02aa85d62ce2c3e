/**
 * EXAMINE, incremental search, metadata and body fetches against Dovecot, on
 * both fetch engines: the fast path that reads ImapFlow's socket itself and
 * ImapFlow's own fetch/download.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapError } from '#lib/errors.ts';
import { heldPieces } from '#lib/held-bytes.ts';
import { connectMailServer } from '#lib/imap/connect.ts';
import type { ImapMailServer } from '#lib/imap/imap-mail-server.ts';
import type { HeldBytes } from '#lib/ports.ts';
import { attachmentMessage, htmlMessage, textMessage } from '../fixtures/messages.ts';
import {
  appendMessages,
  createMailbox,
  type DovecotInfo,
  dovecotInfo,
  freshUser,
  getFlags,
  type TestUser,
  testAccount,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { startImapProxy } from '../helpers/imap-proxy.ts';

const LARGE = 5 * 1024 * 1024 + 123;

let dovecot: DovecotInfo;

beforeAll(() => {
  dovecot = dovecotInfo();
});

interface Received {
  uid: number;
  kind: 'bytes' | 'stream';
  sha: string;
  size: number;
}

/** A sink that records what it got; streams are consumed chunk by chunk, never joined. */
function recordingSink(received: Received[]) {
  return async (uid: number, source: Readable | HeldBytes) => {
    const hash = createHash('sha256');
    let size = 0;
    // Bytes held in memory may come as the pieces they arrived in.
    for await (const chunk of source instanceof Readable ? source : heldPieces(source)) {
      hash.update(chunk as Uint8Array);
      size += (chunk as Uint8Array).length;
    }
    received.push({
      uid,
      kind: source instanceof Readable ? 'stream' : 'bytes',
      sha: hash.digest('hex'),
      size,
    });
  };
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe.each(['auto', 'imapflow'] as const)('fetch engine %s', (engine) => {
  let user: TestUser;
  const messages: Buffer[] = [];
  let uids: number[] = [];
  let server: ImapMailServer;

  beforeAll(async () => {
    user = freshUser(dovecot, `fetch-${engine}`);
    // ~200 messages: text, HTML, a few attachments, and one 5 MB message in the middle.
    for (let i = 0; i < 200; i++) {
      if (i === 120) messages.push(attachmentMessage(i, LARGE, { namespace: user.user }));
      else if (i % 40 === 7) messages.push(attachmentMessage(i, 300 * 1024, { namespace: user.user }));
      else if (i % 3 === 0) messages.push(htmlMessage(i, { namespace: user.user }));
      else messages.push(textMessage(i, { namespace: user.user }));
    }
    uids = await withSetupClient(dovecot, user, async (client) => {
      await createMailbox(client, 'Single');
      await appendMessages(client, 'Single', [
        textMessage(1000, { namespace: user.user, subject: 'Only one' }),
      ]);
      await createMailbox(client, 'Empty');
      return appendMessages(client, 'INBOX', messages);
    });
    server = await connectMailServer(testAccount(dovecot, user), {
      password: user.password,
      fetchEngine: engine,
    });
  });

  afterAll(async () => {
    await server?.logout();
  });

  it('examines INBOX read-only with UIDVALIDITY, UIDNEXT, EXISTS and HIGHESTMODSEQ', async () => {
    // Act
    const state = await server.examine('INBOX');
    // Assess
    expect(state).toMatchObject({ path: 'INBOX', uidNext: uids.at(-1)! + 1, exists: 200 });
    expect(state.uidValidity).toBeGreaterThan(0);
    expect(state.highestModSeq).toMatch(/^\d+$/);
  });

  it('finds only UIDs above the checkpoint, also when nothing is new (the n:* quirk)', async () => {
    // Prepare
    await server.examine('INBOX');
    const last = uids.at(-1)!;
    // Act
    const newer = await server.searchNewerThan(uids[149]!);
    const nothing = await server.searchNewerThan(last);
    const farAhead = await server.searchNewerThan(last + 1000);
    // Assess: Dovecot answers `UID last+1:*` with the highest UID; it must be filtered out
    expect(newer).toEqual(uids.slice(150));
    expect(nothing).toEqual([]);
    expect(farAhead).toEqual([]);
  });

  it('searches by internal date', async () => {
    // Prepare
    await server.examine('INBOX');
    // Act
    const today = await server.searchSince(new Date(Date.now() - 24 * 3600 * 1000));
    const future = await server.searchSince(new Date(Date.now() + 3 * 24 * 3600 * 1000));
    // Assess
    expect(today).toEqual(uids);
    expect(future).toEqual([]);
  });

  it('fetches metadata: size, internal date, flags and, asked for, the envelope with Message-ID', async () => {
    // Prepare
    await server.examine('INBOX');
    // Act
    const metas = await server.fetchMeta([uids[1]!, uids[0]!, uids[120]!], { envelope: true });
    // Assess
    expect(metas.map((meta) => meta.uid)).toEqual([uids[0], uids[1], uids[120]]);
    expect(metas[0]).toMatchObject({
      size: messages[0]!.length,
      messageId: `<html-0.${user.user}@fixtures.postroom.test>`,
      envelope: {
        subject: 'Html message 0',
        from: [{ name: 'Alice Example', address: 'alice@example.test' }],
        to: [{ name: 'Postroom Inbox', address: 'inbox@example.test' }],
        cc: [],
        date: '2026-01-01T00:00:00.000Z',
      },
    });
    expect(metas[0]!.internalDate).toBeInstanceOf(Date);
    expect(metas[2]!.size).toBe(messages[120]!.length);
  });

  it('fetches no envelope unless asked, and Message-IDs alone from the header when asked', async () => {
    // Prepare
    await server.examine('INBOX');
    // Act
    const [plain] = await server.fetchMeta([uids[0]!]);
    const [withId] = await server.fetchMeta([uids[0]!], { messageId: true });
    // Assess
    expect(plain).toEqual({
      uid: uids[0],
      size: messages[0]!.length,
      internalDate: expect.any(Date),
      flags: expect.any(Array),
    });
    expect(withId).toEqual({ ...plain, messageId: `<html-0.${user.user}@fixtures.postroom.test>` });
  });

  it('fetches nothing (and sends nothing) for an empty UID list', async () => {
    // Prepare
    await server.examine('INBOX');
    const received: Received[] = [];
    // Act
    const metas = await server.fetchMeta([]);
    await server.fetchSources([], new Map(), recordingSink(received));
    // Assess
    expect(metas).toEqual([]);
    expect(received).toEqual([]);
  });

  it('fetches a single message byte for byte', async () => {
    // Prepare
    const state = await server.examine('Single');
    const [uid] = await server.searchNewerThan(0);
    const received: Received[] = [];
    // Act
    await server.fetchSources([uid!], new Map([[uid!, 5000]]), recordingSink(received));
    // Assess
    const expected = textMessage(1000, { namespace: user.user, subject: 'Only one' });
    expect(state.exists).toBe(1);
    expect(received).toEqual([{ uid, kind: 'bytes', sha: sha(expected), size: expected.length }]);
  });

  it('fetches ~200 messages in UID order, streaming the 5 MB one, without setting \\Seen', async () => {
    // Prepare
    await server.examine('INBOX');
    const metas = await server.fetchMeta(uids);
    const sizes = new Map(metas.map((meta) => [meta.uid, meta.size]));
    const received: Received[] = [];
    // Act
    await server.fetchSources(uids, sizes, recordingSink(received));
    // Assess
    expect(received.map((entry) => entry.uid)).toEqual(uids);
    expect(received.map((entry) => entry.sha)).toEqual(messages.map(sha));
    expect(received.filter((entry) => entry.kind === 'stream').map((entry) => entry.uid)).toEqual([
      uids[120],
    ]);
    const flags = await withSetupClient(dovecot, user, (client) => getFlags(client, 'INBOX'));
    expect([...flags.values()].some((list) => list.includes('\\Seen'))).toBe(false);
  });

  it('skips UIDs the server does not have', async () => {
    // Prepare
    await server.examine('INBOX');
    const received: Received[] = [];
    const missing = uids.at(-1)! + 50;
    // Act
    await server.fetchSources([uids[0]!, missing], new Map(), recordingSink(received));
    // Assess
    expect(received.map((entry) => entry.uid)).toEqual([uids[0]]);
  });

  it('keeps the session usable after the sink fails, and reports the sink error', async () => {
    // Prepare
    await server.examine('INBOX');
    const boom = new Error('sink refused');
    let calls = 0;
    // Act
    const failure = await server
      .fetchSources(uids.slice(0, 20), new Map(), async () => {
        calls++;
        if (calls === 3) throw boom;
      })
      .catch((error: unknown) => error);
    const after = await server.searchNewerThan(uids[197]!);
    // Assess
    expect(failure).toBe(boom);
    expect(calls).toBe(3);
    expect(after).toEqual(uids.slice(198));
  });

  it('reports an empty mailbox as such and a missing one as MAILBOX_NOT_FOUND', async () => {
    // Act
    const empty = await server.examine('Empty');
    const none = await server.searchNewerThan(0);
    const missing = await server.examine('Nope/Never').catch((error: unknown) => error);
    // Assess
    expect(empty.exists).toBe(0);
    expect(none).toEqual([]);
    expect(missing).toBeInstanceOf(ImapError);
    expect((missing as ImapError).code).toBe('MAILBOX_NOT_FOUND');
    expect((missing as ImapError).message).toMatch(
      /^account test: mailbox "Nope\/Never" does not exist: .*doesn't exist/,
    );
  });
});

describe('a connection dropped in the middle of a FETCH', () => {
  it.each(['auto', 'imapflow'] as const)(
    'rejects fetchSources with CONNECTION_LOST (%s engine)',
    async (engine) => {
      // Prepare
      const user = freshUser(dovecot, `drop-${engine}`);
      const uids = await withSetupClient(dovecot, user, (client) =>
        appendMessages(
          client,
          'INBOX',
          Array.from({ length: 40 }, (_, i) => htmlMessage(i, { namespace: user.user })),
        ),
      );
      const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
      const server = await connectMailServer(
        { ...testAccount(dovecot, user, { tls: false }), port: proxy.port },
        { password: user.password, fetchEngine: engine },
      );
      await server.examine('INBOX');
      const lost: unknown[] = [];
      server.onClose((reason) => lost.push(reason));
      const received: Received[] = [];
      // Act: cut after ~300 KB of the reply, i.e. a few messages in
      proxy.dropAfter({ afterCommand: 'UID FETCH', afterServerBytes: 300_000 });
      const error = await server
        .fetchSources(uids, new Map(), recordingSink(received))
        .catch((reason: unknown) => reason);
      const next = await server.examine('INBOX').catch((reason: unknown) => reason);
      await proxy.close();
      // Assess
      expect(error).toBeInstanceOf(ImapError);
      expect((error as ImapError).code).toBe('CONNECTION_LOST');
      expect((error as ImapError).retryable).toBe(true);
      expect(received.length).toBeLessThan(uids.length);
      expect(proxy.drops()).toBe(1);
      expect((next as ImapError).code).toBe('CONNECTION_LOST');
      expect(server.closed).toBe(true);
      expect(lost).toHaveLength(1);
    },
  );

  it('rejects a large streamed message with CONNECTION_LOST when the drop happens inside it', async () => {
    // Prepare
    const user = freshUser(dovecot, 'drop-large');
    const [uid] = await withSetupClient(dovecot, user, (client) =>
      appendMessages(client, 'INBOX', [attachmentMessage(1, LARGE, { namespace: user.user })]),
    );
    const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
    const server = await connectMailServer(
      { ...testAccount(dovecot, user, { tls: false }), port: proxy.port },
      { password: user.password },
    );
    await server.examine('INBOX');
    let streamError: unknown;
    // Act
    proxy.dropAfter({ afterCommand: 'UID FETCH', afterServerBytes: 2_000_000 });
    const error = await server
      .fetchSources([uid!], new Map([[uid!, LARGE]]), async (_uid, source) => {
        try {
          for await (const _chunk of source as Readable) {
            // consume
          }
        } catch (reason) {
          streamError = reason;
          throw reason;
        }
      })
      .catch((reason: unknown) => reason);
    await proxy.close();
    // Assess
    expect((error as ImapError).code).toBe('CONNECTION_LOST');
    expect(streamError).toBeDefined();
  });
});
