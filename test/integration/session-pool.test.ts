/**
 * The session pool against the private Dovecot, through a counting proxy:
 * one LOGIN for many uses, NOOP before reusing an idle session, a broken
 * session never handed out again, a deadline per use, the connection budget
 * (waiting for a slot, and failing in one line when none frees up).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryConnectionSlots } from '#lib/adapters/memory-connection-slots.ts';
import type { AccountConfig } from '#lib/config/schema.ts';
import { ImapError } from '#lib/errors.ts';
import { connectMailServer } from '#lib/imap/connect.ts';
import { SessionPool, type SessionPoolOptions } from '#lib/imap/session-pool.ts';
import { type DovecotInfo, dovecotInfo, freshUser, type TestUser, testAccount } from '../helpers/dovecot.ts';
import { type ImapProxy, startImapProxy } from '../helpers/imap-proxy.ts';

let dovecot: DovecotInfo;
let user: TestUser;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  dovecot = dovecotInfo();
  user = freshUser(dovecot, 'pool');
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  overrides: Partial<AccountConfig> = {},
  options: Partial<SessionPoolOptions> = {},
): Promise<{ pool: SessionPool; proxy: ImapProxy; account: AccountConfig }> {
  const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
  const account = { ...testAccount(dovecot, user, { tls: false }), port: proxy.port, ...overrides };
  const pool = new SessionPool({
    slots: new MemoryConnectionSlots(),
    holder: 'test',
    connect: (acc, opts) => connectMailServer(acc, { ...opts, password: user.password }),
    ...options,
  });
  cleanups.push(() => proxy.close());
  cleanups.push(() => pool.close());
  return { pool, proxy, account };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('session reuse', () => {
  it('logs in once for many uses, and each use starts with nothing selected', async () => {
    // Prepare
    const { pool, proxy, account } = await setup();
    // Act
    for (let use = 0; use < 5; use++) {
      const session = await pool.open(account);
      await session.examine('INBOX');
      await session.logout();
    }
    const again = await pool.open(account);
    const error = await again.searchNewerThan(0).catch((e: unknown) => e);
    await again.logout();
    // Assess
    expect(proxy.count('LOGIN')).toBe(1);
    expect(proxy.count('EXAMINE')).toBe(5);
    expect(proxy.count('ID')).toBe(1);
    expect(proxy.count('LOGOUT')).toBe(0);
    expect(String(error)).toMatch(/needs a selected mailbox/);
  });

  it('checks a session idle past checkAfterMs with NOOP before reusing it', async () => {
    // Prepare
    const { pool, proxy, account } = await setup({}, { checkAfterMs: 0 });
    // Act
    await (await pool.open(account)).logout();
    const session = await pool.open(account);
    await session.examine('INBOX');
    await session.logout();
    // Assess
    expect(proxy.count('NOOP')).toBe(1);
    expect(proxy.count('LOGIN')).toBe(1);
  });

  it('never hands out a session whose connection was lost; the next use logs in again', async () => {
    // Prepare
    const { pool, proxy, account } = await setup({}, { checkAfterMs: 0 });
    await (await pool.open(account)).logout();
    // Act
    proxy.dropAll();
    const session = await pool.open(account);
    const state = await session.examine('INBOX');
    await session.logout();
    // Assess
    expect(state.uidValidity).toBeGreaterThan(0);
    expect(proxy.count('LOGIN')).toBe(2);
  });

  it('drops a session after a deadline trip, and the deadline is per use, not per socket', async () => {
    // Prepare
    const { pool, proxy, account } = await setup();
    const first = await pool.open(account, { deadline: Date.now() + 300 });
    await first.examine('INBOX');
    await first.logout();
    // Act: the first use's deadline passes while the session waits in the pool
    await sleep(400);
    const second = await pool.open(account);
    await second.examine('INBOX');
    await second.logout();
    const third = await pool.open(account, { deadline: Date.now() + 200 });
    await sleep(300);
    const tripped = await third.examine('INBOX').catch((e: unknown) => e);
    await third.logout();
    const fourth = await pool.open(account);
    await fourth.examine('INBOX');
    await fourth.logout();
    // Assess
    expect((tripped as ImapError).code).toBe('IMAP_DEADLINE');
    expect(proxy.count('LOGIN')).toBe(2);
  });

  it('logs out pooled sessions idle past idleMs, and on close', async () => {
    // Prepare
    const { pool, proxy, account } = await setup({}, { idleMs: 100 });
    // Act
    await (await pool.open(account)).logout();
    await sleep(300);
    const afterIdle = proxy.openConnections();
    await (await pool.open(account)).logout();
    await pool.close();
    await sleep(50);
    // Assess
    expect(afterIdle).toBe(0);
    expect(proxy.count('LOGIN')).toBe(2);
    expect(proxy.count('LOGOUT')).toBe(2);
    expect(proxy.openConnections()).toBe(0);
  });
});

describe('connection budget', () => {
  it('waits for a slot, and reuses the session handed back rather than logging in again', async () => {
    // Prepare
    const { pool, proxy, account } = await setup({ maxConnections: 2 });
    const a = await pool.open(account);
    const b = await pool.open(account);
    // Act
    const waiting = pool.open(account);
    await sleep(100);
    const openWhileWaiting = proxy.openConnections();
    await a.logout();
    const c = await waiting;
    await c.examine('INBOX');
    await Promise.all([b.logout(), c.logout()]);
    // Assess
    expect(openWhileWaiting).toBe(2);
    expect(proxy.peakConnections()).toBe(2);
    expect(proxy.count('LOGIN')).toBe(2);
  });

  it('an idle session of another holder gives its slot up when a session waits for one', async () => {
    // Prepare: two pools (two processes) sharing one budget of 1
    const slots = new MemoryConnectionSlots();
    const {
      pool: first,
      proxy,
      account,
    } = await setup({ maxConnections: 1 }, { slots, holder: 'first', yieldCheckMs: 20 });
    const second = new SessionPool({
      slots,
      holder: 'second',
      yieldCheckMs: 20,
      connect: (acc, opts) => connectMailServer(acc, { ...opts, password: user.password }),
    });
    cleanups.push(() => second.close());
    await (await first.open(account)).logout();
    // Act
    const session = await second.open(account, { deadline: Date.now() + 10_000 });
    await session.examine('INBOX');
    await session.logout();
    // Assess
    expect(proxy.count('LOGIN')).toBe(2);
    expect(proxy.count('LOGOUT')).toBe(1);
    expect(proxy.peakConnections()).toBe(1);
  });

  it('fails in one line naming the account and the budget when no slot frees up before the deadline', async () => {
    // Prepare
    const { pool, account } = await setup({ maxConnections: 1 });
    const held = await pool.open(account);
    // Act
    const error = await pool.open(account, { deadline: Date.now() + 200 }).catch((e: unknown) => e);
    await held.logout();
    // Assess
    expect(error).toBeInstanceOf(ImapError);
    expect((error as ImapError).code).toBe('CONNECTION_BUDGET');
    expect((error as ImapError).message).toBe(
      `account test: no IMAP connection free for ${user.user}@${dovecot.host} before the session's deadline: 1 of maxConnections 1 are in use`,
    );
  });
});
