/**
 * Holding one slot of an account's connection budget (`ConnectionSlots`):
 * waiting for one up to a deadline, renewing it while its connection lives,
 * releasing it when the connection ends. A holder that crashes or freezes
 * stops renewing, and its slot expires after its time to live.
 */
import { type ConnectionBudget, connectionBudget } from '../config/connection-budget.ts';
import type { AccountConfig } from '../config/schema.ts';
import type { ConnectionSlots, Logger } from '../ports.ts';
import { imapError } from './errors.ts';

/** How long a slot in use lives without renewal, and how often it is renewed. */
export const SLOT_IN_USE_TTL_MS = 90_000;
const RENEW_EVERY_MS = 30_000;
/** How long one refused attempt says "wanted" (the waiter says it again on every attempt). */
const WANT_MS = 2_000;

export interface SlotSource {
  slots: ConnectionSlots;
  /** Names this process (unique per process: Lambdas share pids and host names). */
  holder: string;
  logger?: Logger | undefined;
  now?: () => number;
}

/** One held slot. */
export class SlotHold {
  readonly budget: ConnectionBudget;
  readonly slot: number;
  /** False once a renewal found the slot gone (expired, then taken): its connection should end. */
  valid = true;
  readonly #source: SlotSource;
  readonly #account: string;
  #timer: NodeJS.Timeout | undefined;
  #released = false;
  /** When the slot expires unless renewed, by this process's clock. */
  #expiresAt: number;

  constructor(
    source: SlotSource,
    account: string,
    budget: ConnectionBudget,
    slot: number,
    expiresAt: number,
  ) {
    this.#source = source;
    this.#account = account;
    this.budget = budget;
    this.slot = slot;
    this.#expiresAt = expiresAt;
  }

  /** Keeps the slot at least a minute ahead while its connection is in use, until `park` or `release`. */
  keepAlive(): void {
    if (this.#timer || this.#released) return;
    this.#timer = setInterval(() => void this.ensure(SLOT_IN_USE_TTL_MS, 60_000), RENEW_EVERY_MS);
    this.#timer.unref();
  }

  /** Stops the renewals, leaving the slot held for `ttlMs` (a pooled session's idle bound). */
  async park(ttlMs: number, minLeftMs: number): Promise<boolean> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.ensure(ttlMs, minLeftMs);
  }

  /**
   * Renews for `ttlMs` unless the slot has `minLeftMs` left anyway: a
   * session reused again and again writes to the store once in minutes, not
   * once per use.
   */
  async ensure(ttlMs: number, minLeftMs: number): Promise<boolean> {
    if (this.valid && !this.#released && this.#expiresAt - this.#now() >= minLeftMs) return true;
    return this.renew(ttlMs);
  }

  async renew(ttlMs: number): Promise<boolean> {
    if (this.#released || !this.valid) return false;
    const { slots, holder, logger } = this.#source;
    try {
      const expiresAt = this.#now() + ttlMs;
      this.valid = await slots.renew(this.budget.key, this.slot, holder, ttlMs);
      if (this.valid) this.#expiresAt = expiresAt;
    } catch (error) {
      // A store that does not answer now may answer the next renewal; the slot lives until its TTL.
      logger?.debug(`account ${this.#account}: could not renew a connection slot`, {
        error: (error as Error).message,
      });
      return true;
    }
    if (!this.valid) {
      logger?.warn(
        `account ${this.#account}: connection slot ${this.slot} of ${this.budget.key} expired while held; the connection ends after this use`,
      );
    }
    return this.valid;
  }

  #now(): number {
    return (this.#source.now ?? Date.now)();
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    const { slots, holder, logger } = this.#source;
    await slots.release(this.budget.key, this.slot, holder).catch((error: unknown) => {
      logger?.debug(`account ${this.#account}: could not release a connection slot; it expires`, {
        error: (error as Error).message,
      });
    });
  }
}

export interface WaitForSlotOptions {
  /** Epoch ms: give up then, with one line naming the account and the budget. */
  deadline: number;
  /** Resolves when something in this process may have freed a slot (wakes the wait early). */
  changed?: () => Promise<void>;
  /** Tried before each wait: frees a slot this process holds idle (a pooled session); true when it did. */
  freeIdle?: (key: string) => Promise<boolean>;
  /** Checked before each wait: true stops waiting, and the call resolves undefined (a pooled session came back). */
  interrupt?: () => boolean;
  /** How long the slot lives before its first renewal. @default SLOT_IN_USE_TTL_MS */
  ttlMs?: number;
  /** Mark the key wanted while waiting, for holders that yield idle slots to see. @default true */
  announce?: boolean;
  /** Told each time the key is marked wanted, and until when (so the waiter's own sessions need not yield to it). */
  onAnnounce?: (key: string, untilMs: number) => void;
}

/** Takes a slot of the account's budget, waiting (with backoff) while all are held; undefined when interrupted. */
export async function waitForSlot(
  source: SlotSource,
  account: AccountConfig,
  options: WaitForSlotOptions,
): Promise<SlotHold | undefined> {
  const now = source.now ?? Date.now;
  const budget = connectionBudget(account);
  let delay = 50;
  for (;;) {
    const ttlMs = options.ttlMs ?? SLOT_IN_USE_TTL_MS;
    const expiresAt = now() + ttlMs;
    const slot = await source.slots.tryAcquire(budget.key, budget.limit, source.holder, ttlMs);
    if (slot !== undefined) {
      const hold = new SlotHold(source, account.id, budget, slot, expiresAt);
      hold.keepAlive();
      return hold;
    }
    if (options.interrupt?.()) return undefined;
    if (await options.freeIdle?.(budget.key)) continue;
    // Other processes' idle pooled sessions give their slots up when they see this.
    if (options.announce !== false) {
      const until = now() + WANT_MS;
      options.onAnnounce?.(budget.key, until);
      await source.slots.want(budget.key, until).catch(() => undefined);
    }
    const left = options.deadline - now();
    if (left <= 0) {
      const held = await source.slots.held(budget.key).catch(() => budget.limit);
      throw imapError(
        'CONNECTION_BUDGET',
        account.id,
        `no IMAP connection free for ${budget.key} before the session's deadline: ${held} of maxConnections ${budget.limit} are in use`,
        { retryable: true },
      );
    }
    const wait = Math.min(left, delay * (0.5 + Math.random()));
    await Promise.race([sleep(wait), options.changed?.() ?? new Promise(() => undefined)]);
    delay = Math.min(delay * 2, 1000);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
