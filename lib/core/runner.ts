/**
 * The one-machine loop behind `postroom run`: poll every account on its
 * schedule, wake up at once for mailboxes watched with IMAP IDLE, and process
 * the queue after every poll that brought mail (and after the first and every
 * scheduled poll, for work left queued). Polls of different accounts that
 * are due together run at once (up to `pollConcurrency`, so the IMAP server
 * is not flooded); processing the queue runs alone. Identical pending jobs
 * are merged.
 *
 * Stopping (SIGINT/SIGTERM): no new batches start, the batch in flight
 * finishes and is checkpointed, watchers log out, and `stop()` resolves.
 */
import { mailboxSettings } from '../config/mailbox-settings.ts';
import type { AccountConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import type { Logger, MailboxWatch, WatchHandlers } from '../ports.ts';
import { silentLogger } from '../ports.ts';
import type { PollResult } from './poll.ts';

export interface RunnerDependencies {
  accounts: readonly AccountConfig[];
  poll(account: AccountConfig, mailboxes: string[] | undefined, signal: AbortSignal): Promise<PollResult>;
  /** Drains the queue once; resolves with how many messages were processed. */
  processQueue(signal: AbortSignal): Promise<{ processed: number; failed: number }>;
  /** Opens an IDLE watch; only used for mailboxes with `idle: true`. */
  watch?(account: AccountConfig, mailbox: string, handlers: WatchHandlers): Promise<MailboxWatch>;
  logger?: Logger;
  /** Called after every job, for progress output and tests. */
  onJobDone?(
    job: RunnerJob,
    outcome: { ok: boolean; fetched?: number; processed?: number; error?: unknown },
  ): void;
  /**
   * Polls of different accounts waiting together run at once, up to this many
   * (each on its own session); the queue is processed alone. @default 1
   */
  pollConcurrency?: number;
  /** @default 1000 */
  reconnectBaseMs?: number;
  /** @default 60000 */
  reconnectMaxMs?: number;
}

export type RunnerJob =
  | { kind: 'poll'; account: string; mailboxes?: string[]; reason: 'schedule' | 'idle' | 'start' }
  | { kind: 'process'; reason: string };

/** Milliseconds until the next run of a schedule expression, or the interval of a `rate(...)`. */
export type ScheduleClock = (expression: string, from: Date) => number;

export class Runner {
  readonly #deps: RunnerDependencies;
  readonly #logger: Logger;
  readonly #clock: ScheduleClock;
  readonly #abort = new AbortController();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #watches = new Map<string, MailboxWatch>();
  readonly #pending: RunnerJob[] = [];
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(deps: RunnerDependencies, clock: ScheduleClock) {
    this.#deps = deps;
    this.#logger = deps.logger ?? silentLogger;
    this.#clock = clock;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Starts schedules and watches, with one poll of every account right away. */
  async start(): Promise<void> {
    this.#loop = this.#runJobs();
    for (const account of this.#deps.accounts) {
      this.enqueue({ kind: 'poll', account: account.id, reason: 'start' });
      this.#schedule(account);
      for (const mailbox of mailboxSettings(account)) {
        if (mailbox.idle && this.#deps.watch) await this.#openWatch(account, mailbox.name, 0);
      }
    }
  }

  /** Adds a job unless the same one is already waiting. */
  enqueue(job: RunnerJob): void {
    if (this.#abort.signal.aborted) return;
    const same = this.#pending.find((p) => sameJob(p, job));
    if (!same) this.#pending.push(job);
    this.#wake?.();
  }

  /** Stops: the job in flight finishes its batch; nothing new starts; watches log out. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#pending.length = 0;
    this.#wake?.();
    await Promise.allSettled([...this.#watches.values()].map((w) => w.close()));
    this.#watches.clear();
    await this.#loop;
  }

  #schedule(account: AccountConfig): void {
    if (this.#abort.signal.aborted) return;
    const delay = Math.max(1000, this.#clock(account.schedule, new Date()));
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.enqueue({ kind: 'poll', account: account.id, reason: 'schedule' });
      this.#schedule(account);
    }, delay);
    // Not unref'd: between polls (and while an IDLE connection is down) these
    // timers are all that keeps `postroom run` alive; `stop()` clears them.
    this.#timers.add(timer);
  }

  async #openWatch(account: AccountConfig, mailbox: string, attempt: number): Promise<void> {
    if (this.#abort.signal.aborted || !this.#deps.watch) return;
    const key = `${account.id}/${mailbox}`;
    try {
      const watch = await this.#deps.watch(account, mailbox, {
        onNewMail: () =>
          this.enqueue({ kind: 'poll', account: account.id, mailboxes: [mailbox], reason: 'idle' }),
        onLost: (error) => {
          this.#watches.delete(key);
          if (this.#abort.signal.aborted) return;
          this.#logger.warn('IDLE connection lost; reconnecting', {
            account: account.id,
            mailbox,
            error: describeError(error).message,
          });
          this.#retryWatch(account, mailbox, 0);
          // Mail may have arrived while nobody listened.
          this.enqueue({ kind: 'poll', account: account.id, mailboxes: [mailbox], reason: 'idle' });
        },
      });
      if (this.#abort.signal.aborted) {
        await watch.close();
        return;
      }
      this.#watches.set(key, watch);
      if (attempt > 0)
        this.enqueue({ kind: 'poll', account: account.id, mailboxes: [mailbox], reason: 'idle' });
    } catch (error) {
      this.#logger.warn('cannot watch mailbox; retrying', {
        account: account.id,
        mailbox,
        error: describeError(error).message,
      });
      // The timer opens attempt + 1: each failure doubles the ceiling once.
      this.#retryWatch(account, mailbox, attempt);
    }
  }

  #retryWatch(account: AccountConfig, mailbox: string, attempt: number): void {
    // A watch that failed to open while stopping must not leave a timer behind.
    if (this.#abort.signal.aborted) return;
    const base = this.#deps.reconnectBaseMs ?? 1000;
    const max = this.#deps.reconnectMaxMs ?? 60_000;
    // Exponential backoff with jitter (half the ceiling plus a random half), so many
    // clients do not reconnect in step.
    const ceiling = Math.min(max, base * 2 ** attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#openWatch(account, mailbox, attempt + 1);
    }, delay);
    this.#timers.add(timer);
  }

  async #runJobs(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      const job = this.#pending.shift();
      if (!job) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      if (job.kind === 'poll') await Promise.all(this.#takePolls(job).map((poll) => this.#runJob(poll)));
      else await this.#runJob(job);
    }
  }

  /** `first` and the waiting polls of other accounts, up to `pollConcurrency` in all. */
  #takePolls(first: RunnerJob & { kind: 'poll' }): RunnerJob[] {
    const batch: (RunnerJob & { kind: 'poll' })[] = [first];
    const limit = this.#deps.pollConcurrency ?? 1;
    for (let i = 0; i < this.#pending.length && batch.length < limit; ) {
      const next = this.#pending[i]!;
      if (next.kind === 'poll' && !batch.some((b) => b.account === next.account)) {
        batch.push(next);
        this.#pending.splice(i, 1);
      } else {
        i++;
      }
    }
    return batch;
  }

  async #runJob(job: RunnerJob): Promise<void> {
    const signal = this.#abort.signal;
    try {
      if (job.kind === 'poll') {
        const account = this.#deps.accounts.find((a) => a.id === job.account);
        if (!account) return;
        const result = await this.#deps.poll(account, job.mailboxes, signal);
        this.#deps.onJobDone?.(job, { ok: true, fetched: result.fetched });
        // New mail is processed at once. The first poll and every scheduled one also
        // drain the queue when they brought nothing: messages queued by an earlier
        // run (stopped mid-drain) or released after a failure would otherwise wait
        // for the next new mail. An empty drain is one query on the local queue.
        if (result.fetched > 0 || job.reason !== 'idle')
          this.enqueue({ kind: 'process', reason: `after poll of ${job.account}` });
      } else {
        const result = await this.#deps.processQueue(signal);
        this.#deps.onJobDone?.(job, { ok: true, processed: result.processed });
      }
    } catch (error) {
      this.#logger.error(`${job.kind} failed`, {
        ...(job.kind === 'poll' ? { account: job.account } : {}),
        error: describeError(error).message,
      });
      this.#deps.onJobDone?.(job, { ok: false, error });
    }
  }
}

function sameJob(a: RunnerJob, b: RunnerJob): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'process') return true;
  if (b.kind !== 'poll') return false;
  // A pending poll of the whole account covers a mailbox poll, and the same mailbox poll covers itself.
  return (
    a.account === b.account &&
    (a.mailboxes === undefined || a.mailboxes.join('\0') === (b.mailboxes ?? []).join('\0'))
  );
}
