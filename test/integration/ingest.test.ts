/**
 * The ingest pipeline end to end: a real Dovecot, the real IMAP adapter, and
 * the real stores — once with the local stand-ins, once with the AWS adapters
 * on the emulators, and once more with the local stand-ins logging in with
 * XOAUTH2 (tokens from the test OAuth2 server) instead of LOGIN. Every
 * assertion reads back what a consumer would see: the queue, the blobs, the
 * checkpoint.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rawBlobKey } from '#lib/core/keys.ts';
import { pollAccount } from '#lib/core/poll.ts';
import type { BlobStore, CheckpointStore, LeaseStore, Queue } from '#lib/ports.ts';
import { attachmentMessage, fixtureMessageId, textMessage } from '../fixtures/messages.ts';
import {
  appendMessages,
  createMailbox,
  deleteMailbox,
  dovecotInfo,
  freshUser,
  getFlags,
  type TestUser,
  testAccount,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { startImapProxy } from '../helpers/imap-proxy.ts';
import { createHarness, type IngestHarness, type StoreKind } from '../helpers/ingest-harness.ts';
import { withOAuth2 } from '../helpers/oauth-account.ts';

const info = () => dovecotInfo();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function messages(user: TestUser, count: number, from = 0): Buffer[] {
  return Array.from({ length: count }, (_, i) => textMessage(from + i, { namespace: user.user }));
}

/** Which stand-ins, and how the account logs in. */
interface Mode {
  kind: StoreKind;
  auth: 'login' | 'xoauth2';
}

/** The plaintext port of the instance the mode's account logs in to. */
function imapPort(mode: Mode): number {
  return mode.auth === 'login' ? info().ports.full.imap : info().ports.oauth2!.imap;
}

/** A plaintext test account for `user` that logs in as the mode says. */
async function accountFor(mode: Mode, user: TestUser, overrides: Parameters<typeof testAccount>[2] = {}) {
  if (mode.auth === 'login') return testAccount(info(), user, { tls: false, variant: 'full', ...overrides });
  const account = testAccount(info(), user, { tls: false, variant: 'oauth2', ...overrides });
  const oauth = await withOAuth2(account, info(), mode.auth);
  // An explicit port (a proxy's) stays.
  return overrides.port === undefined ? oauth.account : { ...oauth.account, port: overrides.port };
}

async function setup(
  mode: Mode,
  overrides: Parameters<typeof testAccount>[2] = {},
  ingest?: Record<string, number>,
) {
  const user = freshUser(info());
  const account = await accountFor(mode, user, overrides);
  const harness = await createHarness(mode.kind, account, user, ingest ? { ingest: ingest as never } : {});
  return { user, account, harness };
}

function poll(
  harness: IngestHarness,
  extra: Partial<Parameters<typeof pollAccount>[1]> = {},
  ownerId?: string,
) {
  return pollAccount(harness.deps(ownerId), {
    account: harness.config.accounts[0]!,
    ingest: harness.config.ingest,
    ...extra,
  });
}

async function blobBytes(blobs: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function uidsOf(list: { uid: number }[]): number[] {
  return list.map((m) => m.uid).sort((a, b) => a - b);
}

describe.each<Mode>([
  { kind: 'local', auth: 'login' },
  { kind: 'aws', auth: 'login' },
  { kind: 'local', auth: 'xoauth2' },
])('ingest with the $kind stand-ins, logging in with $auth', (mode) => {
  const { kind } = mode;
  it('sends no SEARCH or FETCH for an empty mailbox, on the first poll or after', async () => {
    const user = freshUser(info());
    const proxy = await startImapProxy({ host: info().host, port: imapPort(mode) });
    closers.push(() => proxy.close());
    const account = await accountFor(mode, user, { port: proxy.port });
    const harness = await createHarness(kind, account, user);

    const first = await poll(harness);
    const second = await poll(harness);

    expect(first.fetched + second.fetched).toBe(0);
    const sent = proxy.commands();
    expect(sent.filter((c) => /SEARCH|FETCH/.test(c))).toEqual([]);
    expect(sent.filter((c) => c === 'EXAMINE')).toHaveLength(2);
    expect(await harness.drainQueue()).toEqual([]);
  });

  it('stores one message byte for byte, queues a pointer to it, and leaves it unread', async () => {
    const { user, harness } = await setup(mode);
    const raw = textMessage(1, {
      namespace: user.user,
      subject: 'Grüße aus Köln',
      cc: 'Carol <carol@example.test>',
    });
    const [uid] = await withSetupClient(info(), user, (c) =>
      appendMessages(c, 'INBOX', [{ raw, flags: ['\\Flagged'] }]),
    );

    const result = await poll(harness);

    expect(result.fetched).toBe(1);
    const [queued] = await harness.drainQueue();
    expect(queued).toMatchObject({
      v: 1,
      account: 'test',
      mailbox: 'INBOX',
      uid,
      size: raw.length,
      flags: ['\\Flagged'],
      envelope: { subject: 'Grüße aus Köln', cc: [{ name: 'Carol', address: 'carol@example.test' }] },
    });
    expect(queued!.messageId).toMatch(/^<.+@fixtures\.postroom\.test>$/);
    expect(queued!.blob.key).toBe(rawBlobKey(queued!));
    if (kind === 'aws') expect(queued!.blob.bucket).toBe((harness.config.store as { bucket: string }).bucket);
    expect(await blobBytes(harness.runtime.stores.blobs, queued!.blob.key)).toEqual(raw);
    // BODY.PEEK[]: ingest never sets \Seen.
    const flags = await withSetupClient(info(), user, (c) => getFlags(c, 'INBOX'));
    expect(flags.get(uid!)).not.toContain('\\Seen');
    expect(await harness.runtime.stores.checkpoints.get('test', 'INBOX')).toMatchObject({
      lastUid: uid,
      uidNext: uid! + 1,
    });
  });

  it('delivers 1,000 messages over several polls, with new mail arriving between them, each exactly once', async () => {
    const { user, harness } = await setup(
      mode,
      {},
      { batchMessages: 150, batchBytes: 1 << 20, largeMessageBytes: 4 << 20, concurrency: 8 },
    );
    const all = messages(user, 1000);

    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', all.slice(0, 400)));
    const first = await poll(harness);
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', all.slice(400, 700)));
    const second = await poll(harness);
    const idle = await poll(harness);
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', all.slice(700)));
    const third = await poll(harness);

    expect([first.fetched, second.fetched, idle.fetched, third.fetched]).toEqual([400, 300, 0, 300]);
    const delivered = await harness.drainQueue();
    expect(uidsOf(delivered)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(new Set(delivered.map((m) => m.messageId)).size).toBe(1000);
    expect(await harness.runtime.stores.checkpoints.get('test', 'INBOX')).toMatchObject({
      lastUid: 1000,
      uidNext: 1001,
    });
  });

  it('honours start: new, all, and a date on the first poll', async () => {
    const { user, harness } = await setup(mode, {
      mailboxes: [
        { name: 'INBOX', start: 'new' },
        { name: 'Old', start: 'all' },
        { name: 'Dated', start: '2026-03-01' },
      ],
    });
    await withSetupClient(info(), user, async (c) => {
      await createMailbox(c, 'Old');
      await createMailbox(c, 'Dated');
      await appendMessages(c, 'INBOX', messages(user, 3));
      await appendMessages(c, 'Old', messages(user, 2, 10));
      await appendMessages(c, 'Dated', [
        { raw: textMessage(20, { namespace: user.user }), internalDate: new Date('2026-02-01T10:00:00Z') },
        { raw: textMessage(21, { namespace: user.user }), internalDate: new Date('2026-03-02T10:00:00Z') },
        { raw: textMessage(22, { namespace: user.user }), internalDate: new Date('2026-04-02T10:00:00Z') },
      ]);
    });

    const first = await poll(harness);
    expect(first.mailboxes.map((m) => [m.mailbox, m.fetched])).toEqual([
      ['INBOX', 0],
      ['Old', 2],
      ['Dated', 2],
    ]);
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', messages(user, 1, 30)));
    const second = await poll(harness);
    expect(second.mailboxes.map((m) => [m.mailbox, m.fetched])).toEqual([
      ['INBOX', 1],
      ['Old', 0],
      ['Dated', 0],
    ]);
    const delivered = await harness.drainQueue();
    expect(delivered.filter((m) => m.mailbox === 'Dated').map((m) => m.internalDate)).toEqual([
      '2026-03-02T10:00:00.000Z',
      '2026-04-02T10:00:00.000Z',
    ]);
  });

  it('rescans after a UIDVALIDITY change and delivers only what it had not delivered', async () => {
    const { user, harness } = await setup(mode, { mailboxes: ['Lists'] });
    const dated = (i: number) => ({
      raw: textMessage(i, { namespace: user.user }),
      internalDate: new Date(Date.UTC(2026, 0, 1, 0, i)),
    });
    await withSetupClient(info(), user, async (c) => {
      await createMailbox(c, 'Lists');
      await appendMessages(c, 'Lists', [dated(1), dated(2), dated(3)]);
    });
    const before = await poll(harness);
    const oldValidity = before.mailboxes[0]!.uidValidity;

    // Delete and recreate: the same messages come back under a new UIDVALIDITY, plus one new one.
    await withSetupClient(info(), user, async (c) => {
      await deleteMailbox(c, 'Lists');
      await createMailbox(c, 'Lists');
      await appendMessages(c, 'Lists', [dated(1), dated(2), dated(3), dated(4)]);
    });
    const after = await poll(harness);

    expect(after.mailboxes[0]).toMatchObject({ fetched: 1, recognised: 3, rescanned: true });
    expect(after.mailboxes[0]!.uidValidity).not.toBe(oldValidity);
    const delivered = await harness.drainQueue();
    expect(delivered).toHaveLength(4);
    expect(new Set(delivered.map((m) => m.messageId)).size).toBe(4);
    expect(await harness.runtime.stores.checkpoints.get('test', 'Lists')).toMatchObject({
      uidValidity: after.mailboxes[0]!.uidValidity,
      lastUid: 4,
    });
  });

  it('streams a 50 MB message into the blob store intact, its envelope read on the way through', async () => {
    const { user, harness } = await setup(mode);
    const raw = attachmentMessage(7, 50 * 1024 * 1024, { namespace: user.user });
    await withSetupClient(info(), user, (c) =>
      appendMessages(c, 'INBOX', [raw, textMessage(8, { namespace: user.user })]),
    );

    const result = await poll(harness);

    expect(result.fetched).toBe(2);
    const [big] = (await harness.drainQueue()).filter((m) => m.size === raw.length);
    expect(big).toBeDefined();
    const stored = await blobBytes(harness.runtime.stores.blobs, big!.blob.key);
    expect(stored.length).toBe(raw.length);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(
      createHash('sha256').update(raw).digest('hex'),
    );
    expect(big!.messageId).toBe(fixtureMessageId('attachment', 7, user.user));
    expect(big!.envelope).toMatchObject({
      subject: 'Attachment message 7',
      from: [{ address: 'alice@example.test' }],
    });
  });

  it('keeps two overlapping polls of one mailbox apart: one works, the other skips', async () => {
    const { user, harness } = await setup(
      mode,
      {},
      { batchMessages: 20, batchBytes: 1 << 20, largeMessageBytes: 4 << 20, concurrency: 4 },
    );
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', messages(user, 120)));
    // Slow the first poller's blob puts so the second one starts while it holds the lease.
    const slowDeps = harness.deps('slow-poller');
    let started!: () => void;
    const firstPutStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const slowBlobs: BlobStore = {
      ...slowDeps.blobs,
      put: async (key, body, options) => {
        started();
        await new Promise((resolve) => setTimeout(resolve, 5));
        return slowDeps.blobs.put(key, body, options);
      },
      get: (key) => slowDeps.blobs.get(key),
      exists: (key) => slowDeps.blobs.exists(key),
    };
    const account = harness.config.accounts[0]!;

    const slow = pollAccount({ ...slowDeps, blobs: slowBlobs }, { account, ingest: harness.config.ingest });
    await firstPutStarted;
    const fast = await poll(harness, {}, 'fast-poller');
    const slowResult = await slow;

    expect(fast.mailboxes[0]!.outcome).toBe('locked');
    expect(fast.mailboxes[0]!.heldBy?.owner).toBe('slow-poller');
    // The lease is short (about a minute), so a crashed holder blocks the mailbox no longer.
    const until = Date.parse(fast.mailboxes[0]!.heldBy!.until);
    expect(until - Date.now()).toBeGreaterThan(0);
    expect(until - Date.now()).toBeLessThanOrEqual(60_000);
    expect(slowResult.fetched).toBe(120);
    expect(uidsOf(await harness.drainQueue())).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });

  it('renews its lease while one batch takes longer than the lease, not only after each batch', async () => {
    // Prepare
    const { user, harness } = await setup(mode);
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', messages(user, 3)));
    const deps = harness.deps('long-batch-poller');
    const renewals: number[] = [];
    const leases: LeaseStore = {
      acquire: (...a) => deps.leases.acquire(...a),
      renew: (...a) => {
        renewals.push(a[2]);
        return deps.leases.renew(...a);
      },
      release: (...a) => deps.leases.release(...a),
    };
    // Only the heartbeat's interval is faked: IMAP and the stores keep real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let renewalsDuringPut = -1;
    const blobs: BlobStore = {
      put: async (key, body, options) => {
        if (renewalsDuringPut === -1) {
          renewalsDuringPut = 0;
          vi.advanceTimersByTime(70_000);
          // Let the renewals the heartbeat started settle.
          await new Promise((resolve) => setTimeout(resolve, 50));
          renewalsDuringPut = renewals.length;
        }
        return deps.blobs.put(key, body, options);
      },
      get: (key) => deps.blobs.get(key),
      exists: (key) => deps.blobs.exists(key),
    };

    // Act
    const result = await pollAccount(
      { ...deps, leases, blobs },
      { account: harness.config.accounts[0]!, ingest: harness.config.ingest },
    ).finally(() => vi.useRealTimers());

    // Assess
    expect(result.mailboxes[0]!.outcome).toBe('done');
    expect(result.fetched).toBe(3);
    expect(renewalsDuringPut).toBe(3);
    expect(new Set(renewals)).toEqual(new Set([60_000]));
  });

  it('loses nothing when it crashes after storing blobs and before the checkpoint moves', async () => {
    const { user, harness } = await setup(
      mode,
      {},
      { batchMessages: 25, batchBytes: 1 << 20, largeMessageBytes: 4 << 20, concurrency: 4 },
    );
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', messages(user, 100)));
    const deps = harness.deps();
    let sends = 0;
    const crashingQueue: Queue = {
      sendBatch: async (batch) => {
        sends += 1;
        if (sends === 3) throw new Error('simulated crash after the blob puts of batch 3');
        return deps.queue.sendBatch(batch);
      },
    };
    let advances = 0;
    const crashingCheckpoints: CheckpointStore = {
      get: (a, m) => deps.checkpoints.get(a, m),
      advance: async (a, m, next, previous) => {
        advances += 1;
        // Crash once more: the rerun's second batch (76-100) is queued, its checkpoint is not.
        if (advances === 2) throw new Error('simulated crash after the send, before the checkpoint');
        return deps.checkpoints.advance(a, m, next, previous);
      },
    };
    const account = harness.config.accounts[0]!;

    await expect(
      pollAccount({ ...deps, queue: crashingQueue }, { account, ingest: harness.config.ingest }),
    ).rejects.toThrow(/batch 3/);
    expect((await deps.checkpoints.get('test', 'INBOX'))?.lastUid).toBe(50);
    // Batch 3's blobs were stored, but nothing of it was queued or checkpointed.
    expect(
      await deps.blobs.exists(
        rawBlobKey({
          account: 'test',
          mailbox: 'INBOX',
          uidValidity: (await deps.checkpoints.get('test', 'INBOX'))!.uidValidity,
          uid: 60,
        }),
      ),
    ).toBe(true);

    await expect(
      pollAccount({ ...deps, checkpoints: crashingCheckpoints }, { account, ingest: harness.config.ingest }),
    ).rejects.toThrow(/before the checkpoint/);
    expect((await deps.checkpoints.get('test', 'INBOX'))?.lastUid).toBe(75);
    const final = await pollAccount(harness.deps(), { account, ingest: harness.config.ingest });

    expect(final.mailboxes[0]!.lastUid).toBe(100);
    const delivered = await harness.drainQueue();
    // Every message arrives; the batch re-sent after the second crash is dropped by its dedup id.
    expect(uidsOf(delivered)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('checkpoints nothing past the last acknowledged batch when the connection drops mid-FETCH', async () => {
    const user = freshUser(info());
    const all = messages(user, 60);
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', all));
    const bytesPerMessage = all[0]!.length;
    // Cut the connection about 30 messages' worth of bytes after the first UID FETCH
    // (the metadata, then the bodies): inside the second batch of 20.
    const proxy = await startImapProxy({ host: info().host, port: imapPort(mode) });
    proxy.dropAfter({ afterServerBytes: 30 * bytesPerMessage, afterCommand: 'UID FETCH' });
    closers.push(() => proxy.close());
    const droppingAccount = await accountFor(mode, user, { port: proxy.port });
    const harness = await createHarness(kind, droppingAccount, user, {
      ingest: { batchMessages: 20, batchBytes: 1 << 20, largeMessageBytes: 4 << 20, concurrency: 4 },
    });

    await expect(poll(harness)).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    const checkpoint = await harness.runtime.stores.checkpoints.get('test', 'INBOX');
    // Only whole batches are checkpointed, and not the one the drop interrupted.
    expect(checkpoint?.lastUid).toBe(20);
    expect(proxy.drops()).toBe(1);

    // The next poll, over a good connection, delivers the rest.
    const direct = { ...droppingAccount, port: imapPort(mode) };
    const resumed = await pollAccount(harness.deps(), { account: direct, ingest: harness.config.ingest });
    expect(resumed.mailboxes[0]!.lastUid).toBe(60);
    const delivered = await harness.drainQueue();
    expect(new Set(delivered.map((m) => m.uid)).size).toBe(60);
    expect(uidsOf(delivered)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('stops between batches when its time is up, and the next poll resumes where it stopped', async () => {
    const { user, harness } = await setup(
      mode,
      {},
      { batchMessages: 10, batchBytes: 1 << 20, largeMessageBytes: 4 << 20, concurrency: 4 },
    );
    await withSetupClient(info(), user, (c) => appendMessages(c, 'INBOX', messages(user, 35)));
    const stop = new AbortController();

    // The Lambda driver aborts (or passes a deadline) when its remaining time runs short.
    const first = await poll(harness, {
      signal: stop.signal,
      onProgress: (p) => {
        if (p.fetched >= 10) stop.abort();
      },
    });
    const second = await poll(harness);

    // The abort comes as batch 1 is committed; batch 2 may already be fetched
    // then (fetching overlaps the previous commit), and is committed too.
    const stoppedAt = first.mailboxes[0]!.fetched;
    expect([10, 20]).toContain(stoppedAt);
    expect(first.mailboxes[0]).toMatchObject({ outcome: 'partial', lastUid: stoppedAt });
    expect(second.mailboxes[0]).toMatchObject({ outcome: 'done', fetched: 35 - stoppedAt, lastUid: 35 });
    expect(uidsOf(await harness.drainQueue())).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
  });

  it('reads each source as a stream, never as one buffer, for messages above the large threshold', async () => {
    const { user, harness } = await setup(
      mode,
      {},
      { batchMessages: 50, batchBytes: 64 << 20, largeMessageBytes: 256 * 1024, concurrency: 4 },
    );
    const big = attachmentMessage(3, 2 * 1024 * 1024, { namespace: user.user });
    await withSetupClient(info(), user, (c) =>
      appendMessages(c, 'INBOX', [textMessage(1, { namespace: user.user }), big]),
    );
    const deps = harness.deps();
    const kinds: string[] = [];
    const recordingBlobs: BlobStore = {
      put: (key, body, options) => {
        kinds.push(body instanceof Readable ? 'stream' : 'bytes');
        return deps.blobs.put(key, body, options);
      },
      get: (key) => deps.blobs.get(key),
      exists: (key) => deps.blobs.exists(key),
    };

    await pollAccount(
      { ...deps, blobs: recordingBlobs },
      { account: harness.config.accounts[0]!, ingest: harness.config.ingest },
    );

    expect(kinds).toEqual(['bytes', 'stream']);
  });
});
