/**
 * Time bounds for one IMAP session: a deadline for the whole session (an
 * account's poll, a process batch's session), and a stall detector for each
 * command. A socket idle timeout alone lets a server that trickles a byte a
 * second, or floods untagged responses, hold a session for ever; and a
 * session idle between two commands is not a stall, so the detector only
 * counts while a command waits for the server.
 */
import type { ImapFlow } from 'imapflow';
import { ImapError } from '../errors.ts';
import { watchServerBytes } from './flow-internals.ts';

export interface WatchdogOptions {
  account: string;
  /** Epoch ms by which the session must have ended. */
  deadline: number;
  /** A command with no byte from the server for this long has stalled. */
  stallMs: number;
  /** Called once, with the reason, when a bound is passed: close the session. */
  onTrip(reason: ImapError): void;
  now?: () => number;
}

/** Watches one client; `busy`/`idle` bracket each command. */
export class Watchdog {
  private readonly options: WatchdogOptions;
  private readonly bytes: ReturnType<typeof watchServerBytes>;
  private readonly timer: NodeJS.Timeout;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadline: number;
  private stopped = false;
  private readonly tripListeners = new Set<(reason: ImapError) => void>();
  private readonly now: () => number;
  private activity: string | undefined;
  private lastHeard: number;
  private tripped: ImapError | undefined;

  constructor(client: ImapFlow, options: WatchdogOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.lastHeard = this.now();
    this.bytes = watchServerBytes(client, () => {
      this.lastHeard = this.now();
    });
    const tick = Math.max(20, Math.min(1000, options.stallMs / 4));
    this.timer = setInterval(() => this.check(), tick);
    this.timer.unref();
    this.deadline = options.deadline;
    this.armDeadline();
  }

  /**
   * Replaces the deadline: a pooled session gets a fresh one for each use
   * (the bound is per use, not per socket), and none while it waits in the pool.
   */
  setDeadline(deadline: number): void {
    if (this.tripped || this.stopped) return;
    this.deadline = deadline;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.armDeadline();
  }

  private armDeadline(): void {
    // The deadline to the millisecond, not at the next tick (a Lambda's margin is counted in seconds).
    const untilDeadline = this.deadline - this.now();
    if (Number.isFinite(untilDeadline) && untilDeadline < 2 ** 31 - 1) {
      this.deadlineTimer = setTimeout(() => this.check(), Math.max(0, untilDeadline));
      this.deadlineTimer.unref();
    }
  }

  /** Resolves never; rejects with the reason once a bound is passed (for racing a call ImapFlow may hold on to). */
  whenTripped(): Promise<never> {
    return new Promise((_resolve, reject) => {
      if (this.tripped) reject(this.tripped);
      else this.tripListeners.add(reject);
    });
  }

  /** The reason the session was ended, once it was. */
  get reason(): ImapError | undefined {
    return this.tripped;
  }

  /** A command (`what`, e.g. `UID FETCH 1:50 (BODY.PEEK[]) in "INBOX"`) now waits for the server. */
  busy(what: string): void {
    this.activity = what;
    this.lastHeard = this.now();
  }

  idle(): void {
    this.activity = undefined;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.deadlineTimer);
    this.bytes.stop();
  }

  private check(): void {
    if (this.tripped) return;
    const now = this.now();
    const during = this.activity ? ` during ${this.activity}` : ' between commands';
    if (now >= this.deadline) {
      this.trip('IMAP_DEADLINE', `the session's time ran out${during}`);
      return;
    }
    if (!this.activity || !this.bytes.attach()) return;
    if (this.bytes.paused()) {
      // Reading is paused on our side (a backlog, a slow consumer): the clock starts again when it resumes.
      this.lastHeard = now;
      return;
    }
    const silentMs = now - this.lastHeard;
    if (silentMs >= this.options.stallMs) {
      this.trip('IMAP_STALLED', `no answer from the server for ${seconds(silentMs)}${during}`);
    }
  }

  private trip(code: 'IMAP_DEADLINE' | 'IMAP_STALLED', line: string): void {
    this.tripped = new ImapError(code, `account ${this.options.account}: ${line}`, {
      retryable: true,
      context: { account: this.options.account },
    });
    this.stop();
    this.options.onTrip(this.tripped);
    for (const listener of this.tripListeners) listener(this.tripped);
    this.tripListeners.clear();
  }
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
