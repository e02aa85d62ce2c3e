/**
 * Test conveniences over the private Dovecot the integration project's global
 * setup starts (`inject('servers').dovecot`): a fresh user per test, an
 * `AccountConfig` pointing at it, and setup/inspection helpers over a plain
 * ImapFlow session (APPEND, CREATE, flags), so tests arrange mailboxes through
 * the real server and never through the adapter under test.
 */
import { randomBytes } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { inject } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import { addDovecotUser, type DovecotInfo, type PortPair } from '#lib/sandbox/dovecot/private-dovecot.ts';

export type { DovecotInfo } from '#lib/sandbox/dovecot/private-dovecot.ts';

/** A test user on the running instance. */
export interface TestUser {
  user: string;
  password: string;
}

/** A message to append: raw bytes, or raw bytes with flags and an internal date. */
export type AppendInput = string | Buffer | { raw: string | Buffer; flags?: string[]; internalDate?: Date };

/** The instances an account may point at (`oauth2` also takes bearer tokens). */
export type TestVariant = 'full' | 'noMove' | 'noUidplus' | 'noCondstoreIdle' | 'oauth2';

/** The instance started by `test/helpers/global-setup.ts`. */
export function dovecotInfo(): DovecotInfo {
  return inject('servers').dovecot;
}

/** The ports of a capability variant; fails loudly when the global setup did not start it. */
export function variantPorts(info: DovecotInfo, variant: TestVariant): PortPair {
  const ports = info.ports[variant];
  if (!ports) throw new Error(`the private Dovecot was started without the ${variant} variant`);
  return ports;
}

/** Adds a unique user (visible to every variant at once) and returns its credentials. */
export function freshUser(info: DovecotInfo = dovecotInfo(), prefix = 'u'): TestUser {
  const user = `${prefix.toLowerCase()}-${process.pid}-${randomBytes(5).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  addDovecotUser(info, user, password);
  return { user, password };
}

/**
 * An account for the adapter under test. The password is given by reference
 * (as config requires); tests pass the value itself to `connectMailServer`.
 * Defaults: implicit TLS on the `full` variant, verified against the instance's CA.
 */
export function testAccount(
  info: DovecotInfo,
  user: TestUser,
  overrides: Partial<Omit<AccountConfig, 'auth'>> & {
    variant?: TestVariant;
    method?: 'login' | 'plain';
  } = {},
): AccountConfig {
  const { variant = 'full', method = 'login', ...rest } = overrides;
  const ports = variantPorts(info, variant);
  const tls = rest.tls ?? true;
  return {
    id: 'test',
    host: info.host,
    port: tls === true ? ports.imaps : ports.imap,
    tls,
    tlsOptions: { ca: info.caFile, rejectUnauthorized: true },
    auth: { user: user.user, password: { env: 'POSTROOM_TEST_PASSWORD' }, method },
    mailboxes: ['INBOX'],
    start: 'all',
    schedule: 'rate(5 minutes)',
    idle: false,
    ...rest,
  };
}

/**
 * Opens a plain-IMAP ImapFlow session for arranging and inspecting mail (no
 * STARTTLS: loopback, and it keeps setup fast). Close it with `logout()`.
 */
export async function openSetupClient(
  info: DovecotInfo,
  user: TestUser,
  port = info.ports.full.imap,
): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: info.host,
    port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: user.user, pass: user.password },
    logger: false,
    disableAutoIdle: true,
  });
  await client.connect();
  return client;
}

/** Runs `fn` with a setup session and logs out afterwards. */
export async function withSetupClient<T>(
  info: DovecotInfo,
  user: TestUser,
  fn: (client: ImapFlow) => Promise<T>,
): Promise<T> {
  const client = await openSetupClient(info, user);
  try {
    return await fn(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/**
 * APPENDs messages in order and returns their UIDs (from APPENDUID, RFC 4315).
 * `mailbox` is the server's name (with `/` as separator on this instance).
 */
export async function appendMessages(
  conn: ImapFlow,
  mailbox: string,
  messages: AppendInput[],
): Promise<number[]> {
  const uids: number[] = [];
  for (const message of messages) {
    const { raw, flags, internalDate } =
      typeof message === 'string' || Buffer.isBuffer(message)
        ? { raw: message, flags: undefined, internalDate: undefined }
        : message;
    const result = await conn.append(mailbox, raw, flags ?? [], internalDate);
    if (!result || result.uid === undefined) throw new Error(`APPEND to ${mailbox} returned no UID`);
    uids.push(result.uid);
  }
  return uids;
}

/**
 * APPENDs many messages over `connections` sessions at once (a backfill to
 * test against, in seconds); each session appends every n-th message.
 */
export async function appendConcurrently(
  info: DovecotInfo,
  user: TestUser,
  mailbox: string,
  messages: AppendInput[],
  connections = 4,
): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const client = await openSetupClient(info, user);
      try {
        await appendMessages(
          client,
          mailbox,
          messages.filter((_, i) => i % connections === c),
        );
      } finally {
        await client.logout().catch(() => client.close());
      }
    }),
  );
}

/** CREATE (with parents, as Dovecot does); succeeds when the mailbox already exists. */
export async function createMailbox(conn: ImapFlow, mailbox: string): Promise<void> {
  await conn.mailboxCreate(mailbox);
}

export async function deleteMailbox(conn: ImapFlow, mailbox: string): Promise<void> {
  await conn.mailboxDelete(mailbox);
}

/** The server's names of every mailbox of the user. */
export async function listMailboxes(conn: ImapFlow): Promise<string[]> {
  return (await conn.list()).map((entry) => entry.path);
}

/** Every UID in `mailbox`, ascending (read-only: the mailbox is EXAMINEd). */
export async function listUids(conn: ImapFlow, mailbox: string): Promise<number[]> {
  const lock = await conn.getMailboxLock(mailbox, { readOnly: true });
  try {
    const found = await conn.search({ all: true }, { uid: true });
    return (found || []).sort((a, b) => a - b);
  } finally {
    lock.release();
  }
}

/** Flags of each UID in `mailbox` (read-only), e.g. `{ 3: ['\\Seen'] }`. */
export async function getFlags(
  conn: ImapFlow,
  mailbox: string,
  uids?: number[],
): Promise<Map<number, string[]>> {
  const lock = await conn.getMailboxLock(mailbox, { readOnly: true });
  const flags = new Map<number, string[]>();
  try {
    const status = conn.mailbox;
    if (status && status.exists === 0) return flags;
    const range = uids && uids.length > 0 ? uids.join(',') : '1:*';
    for await (const message of conn.fetch(range, { uid: true, flags: true }, { uid: true })) {
      flags.set(message.uid, [...(message.flags ?? [])].sort());
    }
    return flags;
  } finally {
    lock.release();
  }
}

/** UIDVALIDITY and UIDNEXT of `mailbox` (STATUS). */
export async function mailboxStatus(
  conn: ImapFlow,
  mailbox: string,
): Promise<{ uidValidity: number; uidNext: number; messages: number }> {
  const status = await conn.status(mailbox, { uidValidity: true, uidNext: true, messages: true });
  if (!status) throw new Error(`STATUS ${mailbox} failed`);
  return {
    uidValidity: Number(status.uidValidity),
    uidNext: status.uidNext ?? 0,
    messages: status.messages ?? 0,
  };
}

/** Sets flags on UIDs (read-write select). */
export async function setFlags(
  conn: ImapFlow,
  mailbox: string,
  uids: number[],
  flags: string[],
): Promise<void> {
  const lock = await conn.getMailboxLock(mailbox);
  try {
    await conn.messageFlagsAdd(uids.join(','), flags, { uid: true });
  } finally {
    lock.release();
  }
}
