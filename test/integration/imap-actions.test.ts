/**
 * Acting on messages (the process use case): flags, copy, move and delete by
 * UID, with the capability fallbacks, against Dovecot and its variants. A proxy
 * records which commands really went over the wire.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ImapError } from '#lib/errors.ts';
import { connectMailServer } from '#lib/imap/connect.ts';
import type { ImapMailServer } from '#lib/imap/imap-mail-server.ts';
import { textMessage } from '../fixtures/messages.ts';
import {
  appendMessages,
  createMailbox,
  type DovecotInfo,
  dovecotInfo,
  freshUser,
  getFlags,
  listMailboxes,
  listUids,
  type TestUser,
  testAccount,
  variantPorts,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { type ImapProxy, startImapProxy } from '../helpers/imap-proxy.ts';

type Variant = 'full' | 'noMove' | 'noUidplus';

let dovecot: DovecotInfo;
const open: { server: ImapMailServer; proxy: ImapProxy }[] = [];

beforeAll(() => {
  dovecot = dovecotInfo();
});

afterEach(async () => {
  for (const { server, proxy } of open.splice(0)) {
    await server.logout();
    await proxy.close();
  }
});

/** A user with `count` messages in INBOX (plus the given flags on some), and a session through a proxy. */
async function arrange(variant: Variant, count: number, flagged: Record<number, string[]> = {}) {
  const user: TestUser = freshUser(dovecot, `act-${variant}`);
  const uids = await withSetupClient(dovecot, user, (client) =>
    appendMessages(
      client,
      'INBOX',
      Array.from({ length: count }, (_, i) => ({
        raw: textMessage(i, { namespace: user.user }),
        flags: flagged[i] ?? [],
      })),
    ),
  );
  const proxy = await startImapProxy({ host: dovecot.host, port: variantPorts(dovecot, variant).imap });
  const server = await connectMailServer(
    { ...testAccount(dovecot, user, { tls: false, variant }), port: proxy.port },
    { password: user.password },
  );
  open.push({ server, proxy });
  return { user, uids, proxy, server };
}

describe('flags', () => {
  it('adds and removes flags on a UID set with one UID STORE each', async () => {
    // Prepare
    const { user, uids, proxy, server } = await arrange('full', 4);
    await server.select('INBOX');
    proxy.reset();
    // Act
    await server.addFlags(uids.slice(0, 3), ['\\Seen', '$Processed']);
    await server.removeFlags([uids[0]!], ['\\Seen']);
    // Assess
    const flags = await withSetupClient(dovecot, user, (client) => getFlags(client, 'INBOX'));
    expect(flags.get(uids[0]!)).toEqual(['$Processed']);
    expect(flags.get(uids[1]!)).toEqual(['$Processed', '\\Seen']);
    expect(flags.get(uids[3]!)).toEqual([]);
    expect(proxy.commands()).toEqual(['UID STORE', 'UID STORE']);
  });

  it('refuses to act on a mailbox opened read-only, and rejects malformed flags', async () => {
    // Prepare
    const { uids, server } = await arrange('full', 1);
    await server.examine('INBOX');
    // Act
    const readOnly = await server.addFlags(uids, ['\\Seen']).catch((error: unknown) => error);
    await server.select('INBOX');
    const malformed = await server.addFlags(uids, ['two words']).catch((error: unknown) => error);
    // Assess
    expect((readOnly as ImapError).code).toBe('COMMAND_FAILED');
    expect((readOnly as ImapError).message).toMatch(/selected read-write/);
    expect((malformed as ImapError).message).toMatch(/invalid flag/);
  });
});

describe('folders', () => {
  it('creates a missing named folder with its parents and finds special-use folders from LIST', async () => {
    // Prepare
    const { user, server } = await arrange('full', 0);
    await withSetupClient(dovecot, user, (client) => createMailbox(client, 'Junk'));
    // Act
    const missing = await server.resolveFolder({ path: 'Archive/2026' }, { create: false });
    const created = await server.resolveFolder({ path: 'Archive/2026' }, { create: true });
    const again = await server.resolveFolder({ path: 'Archive/2026' }, { create: true });
    const junk = await server.resolveFolder({ specialUse: '\\Junk' }, { create: false });
    const trash = await server.resolveFolder({ specialUse: '\\Trash' }, { create: false });
    // Assess
    expect(missing).toBeUndefined();
    expect(created).toBe('Archive/2026');
    expect(again).toBe('Archive/2026');
    expect(junk).toBe('Junk');
    expect(trash).toBeUndefined();
    const names = await withSetupClient(dovecot, user, listMailboxes);
    expect(names).toEqual(expect.arrayContaining(['Archive', 'Archive/2026']));
  });

  it('finds a message by Message-ID in another folder and tells which UIDs still exist', async () => {
    // Prepare
    const { user, uids, server } = await arrange('full', 3);
    await withSetupClient(dovecot, user, async (client) => {
      await createMailbox(client, 'Copies');
      await appendMessages(client, 'Copies', [textMessage(1, { namespace: user.user })]);
    });
    // Act
    const found = await server.findByMessageId(
      server.serverName('Copies'),
      `<text-1.${user.user}@fixtures.postroom.test>`,
    );
    const none = await server.findByMessageId(server.serverName('Copies'), '<nobody@example.test>');
    await server.select('INBOX');
    const existing = await server.existingUids([uids[0]!, uids[2]!, uids[2]! + 100]);
    // Assess
    expect(found).toEqual([1]);
    expect(none).toEqual([]);
    expect(existing).toEqual([uids[0], uids[2]]);
  });
});

describe('copy and move', () => {
  it('copies with one UID COPY and reports the new UIDs (COPYUID)', async () => {
    // Prepare
    const { user, uids, proxy, server } = await arrange('full', 3);
    const target = (await server.resolveFolder({ path: 'Kept' }, { create: true }))!;
    await server.select('INBOX');
    proxy.reset();
    // Act
    const result = await server.copyWithUids(uids, target);
    // Assess
    expect(proxy.commands()).toEqual(['UID COPY']);
    expect([...(result.uidMap ?? new Map()).entries()]).toEqual(uids.map((uid, index) => [uid, index + 1]));
    const [source, copies] = await withSetupClient(dovecot, user, async (client) => [
      await listUids(client, 'INBOX'),
      await listUids(client, 'Kept'),
    ]);
    expect(source).toEqual(uids);
    expect(copies).toHaveLength(3);
  });

  it('moves with one UID MOVE where the server offers MOVE', async () => {
    // Prepare
    const { user, uids, proxy, server } = await arrange('full', 4);
    const target = (await server.resolveFolder({ path: 'Done' }, { create: true }))!;
    await server.select('INBOX');
    proxy.reset();
    // Act
    const outcome = await server.move(uids.slice(0, 3), target);
    // Assess
    expect(outcome).toMatchObject({ expunged: true, method: 'move' });
    expect(proxy.commands()).toEqual(['UID MOVE']);
    const [source, moved] = await withSetupClient(dovecot, user, async (client) => [
      await listUids(client, 'INBOX'),
      await listUids(client, 'Done'),
    ]);
    expect(source).toEqual([uids[3]]);
    expect(moved).toHaveLength(3);
  });

  it('moves by COPY, STORE \\Deleted and UID EXPUNGE without MOVE, sparing what the user marked deleted', async () => {
    // Prepare: message 3 was marked \Deleted by the user and must survive
    const { user, uids, proxy, server } = await arrange('noMove', 4, { 3: ['\\Deleted'] });
    expect(server.capabilities.has('MOVE')).toBe(false);
    const target = (await server.resolveFolder({ path: 'Done' }, { create: true }))!;
    await server.select('INBOX');
    proxy.reset();
    // Act
    const outcome = await server.move(uids.slice(0, 2), target);
    // Assess
    expect(outcome).toMatchObject({ expunged: true, method: 'copy+expunge' });
    expect(proxy.commands()).toEqual(['UID COPY', 'UID STORE', 'UID EXPUNGE']);
    const [source, moved] = await withSetupClient(dovecot, user, async (client) => [
      await listUids(client, 'INBOX'),
      await listUids(client, 'Done'),
    ]);
    expect(source).toEqual([uids[2], uids[3]]);
    expect(moved).toHaveLength(2);
  });

  it('moves with UID MOVE on a server that has MOVE but no UIDPLUS', async () => {
    // Prepare
    const { uids, proxy, server } = await arrange('noUidplus', 2);
    const target = (await server.resolveFolder({ path: 'Done' }, { create: true }))!;
    await server.select('INBOX');
    proxy.reset();
    // Act
    const outcome = await server.move(uids, target);
    // Assess
    expect(outcome.method).toBe('move');
    expect(proxy.commands()).toEqual(['UID MOVE']);
  });
});

describe('delete', () => {
  it('marks \\Deleted and expunges exactly those UIDs with UID EXPUNGE', async () => {
    // Prepare
    const { user, uids, proxy, server } = await arrange('full', 3, { 2: ['\\Deleted'] });
    await server.select('INBOX');
    proxy.reset();
    // Act
    const outcome = await server.deleteMessages([uids[0]!]);
    // Assess
    expect(outcome).toEqual({ expunged: true, method: 'expunge' });
    expect(proxy.commands()).toEqual(['UID STORE', 'UID EXPUNGE']);
    expect(await withSetupClient(dovecot, user, (client) => listUids(client, 'INBOX'))).toEqual([
      uids[1],
      uids[2],
    ]);
  });

  it('without UIDPLUS leaves the messages marked \\Deleted and never sends a plain EXPUNGE', async () => {
    // Prepare
    const { user, uids, proxy, server } = await arrange('noUidplus', 3, { 2: ['\\Deleted'] });
    expect(server.capabilities.has('UIDPLUS')).toBe(false);
    await server.select('INBOX');
    proxy.reset();
    // Act
    const outcome = await server.deleteMessages([uids[0]!]);
    // Assess
    expect(outcome).toEqual({ expunged: false, method: 'deleted' });
    expect(proxy.commands()).toEqual(['UID STORE']);
    const flags = await withSetupClient(dovecot, user, (client) => getFlags(client, 'INBOX'));
    expect([...flags.keys()]).toEqual(uids);
    expect(flags.get(uids[0]!)).toEqual(['\\Deleted']);
    expect(flags.get(uids[1]!)).toEqual([]);
  });
});
