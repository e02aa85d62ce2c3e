/**
 * One IMAP session per account, reused: across the batches of a drain, the
 * polls and drains of `postroom run`, and the invocations of a warm Lambda.
 * The use cases keep calling `openSession(account, options)` and
 * `session.logout()`; here `logout` hands the session back, and the next
 * `openSession` for the account takes it again: no TCP, TLS, ID, LOGIN or
 * NAMESPACE round trips.
 *
 * - Every use gets its own deadline (`SessionOptions.deadline`, bounded by
 *   `limits.sessionSeconds`), and nothing selected: the session's time bounds
 *   are per use, not per socket.
 * - A session that failed in a way that leaves its state in doubt (connection
 *   lost, a deadline or stall, a protocol error, a command still in flight) is
 *   logged out and dropped, never handed out again.
 * - Idle for more than `checkAfterMs`, a session is checked with NOOP before
 *   reuse; idle for `idleMs` it is logged out: well inside the 30 minutes a
 *   server may wait before its autologout (RFC 3501 5.4).
 * - Every session holds a slot of its account's connection budget, pooled
 *   ones too; a session waits for a slot up to its deadline (and `connect`
 *   retries a server's "too many connections" at login within it).
 * - Pooled sockets do not keep the process alive, and `close()` logs them out.
 */
import { connectionBudget } from '../config/connection-budget.ts';
import { imapLimits } from '../config/imap-limits.ts';
import type { AccountConfig } from '../config/schema.ts';
import { isPostroomError } from '../errors.ts';
import type { MailServer, SessionOptions } from '../ports.ts';
import { SLOT_IN_USE_TTL_MS, type SlotHold, type SlotSource, waitForSlot } from './connection-slot.ts';
import { holdProcessOpen, sessionIdle, socketClosing } from './flow-internals.ts';
import type { ImapMailServer } from './imap-mail-server.ts';

/** Failures after which a session is still in a known state (the server said NO; nothing else happened). */
const HARMLESS = new Set(['COMMAND_FAILED', 'MAILBOX_NOT_FOUND']);
/** How long the NOOP before a reuse may take: a dead socket must not cost the stall timeout. */
const CHECK_MS = 5_000;
const LOGOUT_MS = 5_000;

export interface SessionPoolOptions extends SlotSource {
  /**
   * Connects and logs in (credentials resolved by the caller), bounded by
   * `options.deadline`; a server's "not now" (SERVER_BUSY) is retried there
   * (`transient-retry.ts`), holding the slot meanwhile.
   */
  connect(account: AccountConfig, options: { deadline: number }): Promise<ImapMailServer>;
  /** Log out sessions idle this long; 0 pools nothing (every use logs in and out). @default 300000 (5 minutes) */
  idleMs?: number;
  /** NOOP before reusing a session idle this long. @default 3000 */
  checkAfterMs?: number;
  /**
   * How often an idle pooled session asks the slots whether a session
   * elsewhere waits for its budget, and gives its slot up if so. Off where
   * holders sleep between uses anyway (a frozen Lambda runs no timer).
   * @default never (only when handed back)
   */
  yieldCheckMs?: number;
}

interface Entry {
  account: string;
  key: string;
  server: ImapMailServer;
  slot: SlotHold;
  lastUsed: number;
  idleTimer?: NodeJS.Timeout;
  yieldTimer?: NodeJS.Timeout;
}

export class SessionPool {
  readonly #options: SessionPoolOptions;
  readonly #idle = new Map<string, Entry[]>();
  readonly #now: () => number;
  readonly #idleMs: number;
  readonly #checkAfterMs: number;
  #waiters: (() => void)[] = [];
  /** Until when this pool itself said a budget key is wanted (its sessions do not yield to that). */
  readonly #announced = new Map<string, number>();
  /** Opens in this pool waiting for a slot, by budget key. */
  readonly #waiting = new Map<string, number>();
  #closed = false;

  constructor(options: SessionPoolOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#idleMs = options.idleMs ?? 5 * 60_000;
    this.#checkAfterMs = options.checkAfterMs ?? 3_000;
  }

  /** A session for one use: a pooled one (checked), or a new one within the budget. */
  async open(account: AccountConfig, options: SessionOptions = {}): Promise<MailServer> {
    const deadline = Math.min(
      options.deadline ?? Number.POSITIVE_INFINITY,
      this.#now() + imapLimits(account).sessionSeconds * 1000,
    );
    for (;;) {
      const pooled = await this.#takeIdle(account, deadline);
      if (pooled) return this.#lend(pooled, deadline);
      const key = connectionBudget(account).key;
      this.#waiting.set(key, (this.#waiting.get(key) ?? 0) + 1);
      const slot = await waitForSlot(this.#options, account, {
        deadline,
        changed: () => this.#changed(),
        freeIdle: (budgetKey) => this.#freeIdle(budgetKey, account.id),
        // A session handed back while we waited is better than a new login.
        interrupt: () => (this.#idle.get(account.id)?.length ?? 0) > 0,
        ttlMs: this.#slotTtlMs(),
        // Only holders that yield read the marker: elsewhere it would be a write for nobody.
        announce: this.#options.yieldCheckMs !== undefined,
        onAnnounce: (budgetKey, until) => this.#announced.set(budgetKey, until),
      }).finally(() => this.#waiting.set(key, (this.#waiting.get(key) ?? 1) - 1));
      if (!slot) continue;
      try {
        const server = await this.#options.connect(account, { deadline });
        const entry: Entry = {
          account: account.id,
          key: slot.budget.key,
          server,
          slot,
          lastUsed: this.#now(),
        };
        return this.#lend(entry, deadline);
      } catch (error) {
        await slot.release();
        this.#notify();
        throw error;
      }
    }
  }

  /**
   * A pooled session's slot lasts for a use and its idle bound after it, so a
   * session reused within minutes costs the store one write per use at most
   * (none while the slot has a minute left), and the slot of one that waits in
   * the pool cannot lapse before the pool drops it.
   */
  #slotTtlMs(): number {
    return this.#idleMs > 0 ? this.#idleMs + 30_000 + SLOT_IN_USE_TTL_MS : SLOT_IN_USE_TTL_MS;
  }

  /** Reserves a slot for a connection the pool does not keep (an IDLE watch); release it when the connection ends. */
  async reserve(account: AccountConfig, deadline: number): Promise<SlotHold> {
    const slot = await waitForSlot(this.#options, account, {
      deadline,
      changed: () => this.#changed(),
      freeIdle: (key) => this.#freeIdle(key),
      announce: this.#options.yieldCheckMs !== undefined,
      onAnnounce: (budgetKey, until) => this.#announced.set(budgetKey, until),
    });
    return slot!;
  }

  /** Logs out every pooled session; sessions in use are logged out when handed back. */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.all(entries.map((entry) => this.#discard(entry)));
  }

  async #takeIdle(account: AccountConfig, deadline: number): Promise<Entry | undefined> {
    const list = this.#idle.get(account.id);
    while (list && list.length > 0) {
      const entry = list.pop()!;
      clearTimeout(entry.idleTimer);
      clearInterval(entry.yieldTimer);
      const idleFor = this.#now() - entry.lastUsed;
      // A frozen Lambda's timers did not run: an entry past its idle bound is gone, whatever it says.
      const usable =
        !entry.server.closed &&
        idleFor < this.#idleMs &&
        (await entry.slot.ensure(this.#slotTtlMs(), SLOT_IN_USE_TTL_MS - 30_000)) &&
        (idleFor < this.#checkAfterMs || (await this.#check(entry, deadline)));
      if (usable) {
        entry.slot.keepAlive();
        return entry;
      }
      await this.#discard(entry);
    }
    return undefined;
  }

  async #check(entry: Entry, deadline: number): Promise<boolean> {
    const session = entry.server.session;
    session.beginUse(Math.min(deadline, this.#now() + CHECK_MS));
    holdProcessOpen(session.client, true);
    try {
      await session.noop();
      return true;
    } catch {
      return false;
    }
  }

  /** Hands `entry` out for one use: its logout hands it back. */
  #lend(entry: Entry, deadline: number): MailServer {
    const { server } = entry;
    server.session.beginUse(deadline);
    holdProcessOpen(server.session.client, true);
    let tainted = false;
    let returned = false;
    const unsubscribe: (() => void)[] = [];
    const handBack = async () => {
      if (returned) return;
      returned = true;
      for (const off of unsubscribe) off();
      await this.#handBack(entry, tainted);
    };
    return new Proxy(server, {
      get: (target, property) => {
        if (property === 'logout') return handBack;
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          if (property === 'onClose' && typeof result === 'function') unsubscribe.push(result);
          if (result instanceof Promise) {
            return result.catch((error: unknown) => {
              if (!isPostroomError(error) || !HARMLESS.has(error.code)) tainted = true;
              throw error;
            });
          }
          return result;
        };
      },
    });
  }

  async #handBack(entry: Entry, tainted: boolean): Promise<void> {
    const session = entry.server.session;
    await session.settled();
    const reusable =
      this.#idleMs > 0 &&
      !this.#closed &&
      !tainted &&
      !entry.server.closed &&
      entry.slot.valid &&
      sessionIdle(session.client) &&
      !(await this.#wanted(entry));
    if (!reusable) {
      await this.#discard(entry);
      return;
    }
    session.park();
    holdProcessOpen(session.client, false);
    entry.lastUsed = this.#now();
    // Held while pooled, for as long as the pool may keep it (a frozen Lambda's slot then expires with it).
    if (!(await entry.slot.park(this.#idleMs + 30_000, this.#idleMs))) {
      await this.#discard(entry);
      return;
    }
    entry.idleTimer = setTimeout(() => {
      this.#remove(entry);
      void this.#discard(entry);
    }, this.#idleMs);
    entry.idleTimer.unref();
    const every = this.#options.yieldCheckMs;
    if (every !== undefined) {
      entry.yieldTimer = setInterval(async () => {
        if (!(await this.#wanted(entry)) || !this.#idle.get(entry.account)?.includes(entry)) return;
        this.#remove(entry);
        await this.#discard(entry);
      }, every);
      entry.yieldTimer.unref();
    }
    const list = this.#idle.get(entry.account) ?? [];
    list.push(entry);
    this.#idle.set(entry.account, list);
    this.#notify();
  }

  /** Logs out one pooled session of another account sharing budget `key`, to free its slot. */
  async #freeIdle(key: string, except?: string): Promise<boolean> {
    for (const [account, list] of this.#idle) {
      if (account === except) continue;
      const index = list.findIndex((entry) => entry.key === key);
      if (index < 0) continue;
      const [entry] = list.splice(index, 1);
      clearTimeout(entry!.idleTimer);
      await this.#discard(entry!);
      return true;
    }
    return false;
  }

  /**
   * True when a session elsewhere waits for a slot of this entry's budget
   * (asked only where idle sessions yield: `yieldCheckMs`). A waiter in this
   * pool takes the entry itself, and this pool's own marker is not a reason.
   */
  async #wanted(entry: Entry): Promise<boolean> {
    if (this.#options.yieldCheckMs === undefined || (this.#waiting.get(entry.key) ?? 0) > 0) return false;
    if ((this.#announced.get(entry.key) ?? 0) >= this.#now()) return false;
    return this.#options.slots.wanted(entry.key).catch(() => false);
  }

  #remove(entry: Entry): void {
    const list = this.#idle.get(entry.account);
    const index = list?.indexOf(entry) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
  }

  async #discard(entry: Entry): Promise<void> {
    clearTimeout(entry.idleTimer);
    clearInterval(entry.yieldTimer);
    const session = entry.server.session;
    session.beginUse(this.#now() + LOGOUT_MS);
    holdProcessOpen(session.client, false);
    const closed = socketClosing(session.client);
    await entry.server.logout().catch(() => undefined);
    // The slot is free once the server can no longer count the connection.
    await closed(1_000);
    await entry.slot.release();
    this.#notify();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
