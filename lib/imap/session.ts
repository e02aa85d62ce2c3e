/**
 * One authenticated IMAP session: the exclusive command queue (one command
 * at a time, which the protocol wants and the socket-borrowing body fetch
 * relies on), the selected mailbox, the session's time bounds, and the
 * mapping of every failure to one `ImapError` line naming the account, the
 * mailbox and the command. The commands themselves live in `commands/`.
 */
import type { ImapFlow } from 'imapflow';
import type { ImapLimits, ProviderSetting } from '../config/schema.ts';
import type { ImapError } from '../errors.ts';
import type { Logger, ServerPath } from '../ports.ts';
import { commandError, imapError, limitError } from './errors.ts';
import { execCommand, type Untagged, type UntaggedHandlers } from './flow-internals.ts';
import { type PersonalNamespace, toLogicalName, toServerName } from './mailbox-names.ts';
import { detectProvider, type Provider, usesGmailExtensions } from './provider.ts';
import type { Watchdog } from './watchdog.ts';

/** Knobs for the body fetch. */
export interface FetchTuning {
  /** Messages of at least this size (RFC822.SIZE) are streamed one per command. @default 4 MiB */
  largeMessageBytes: number;
  /** Complete small messages read ahead of the sink before the socket is paused. @default 8 MiB */
  readAheadBytes: number;
  /**
   * `auto`: bodies read straight off the socket (`raw-fetch.ts`). `imapflow`:
   * ImapFlow's fetch iterator and `download()`, the portable path.
   * @default auto
   */
  fetchEngine: 'auto' | 'imapflow';
}

export interface SessionContext {
  account: string;
  host: string;
  port: number;
  /** Only used to keep it out of error messages. */
  password: string;
  limits: Required<ImapLimits>;
  tuning: FetchTuning;
  trace?: ((line: string) => void) | undefined;
  logger?: Logger | undefined;
  /** `accounts[].provider`, resolved against the capabilities in `provider.ts`. @default auto */
  provider?: ProviderSetting | undefined;
}

/** The mailbox a session has open. */
export interface Selected {
  logical: string;
  path: ServerPath;
  readOnly: boolean;
  uidValidity: number;
  uidNext: number;
}

export class ImapSession {
  readonly client: ImapFlow;
  readonly ctx: SessionContext;
  /** The server's capabilities as read after login (they change at login, RFC 3501 6.2.3). */
  readonly capabilities: ReadonlySet<string>;
  /** The personal namespace (RFC 2342) that logical names are mapped into. */
  readonly namespace: PersonalNamespace;
  /** Whose quirks this session follows (`provider.ts`). */
  readonly provider: Provider;
  /** True when X-GM-LABELS, X-GM-MSGID and X-GM-THRID may be used. */
  readonly gmail: boolean;
  selected: Selected | null = null;
  /** Learned once per session: the server leaves UIDNEXT out of SELECT/EXAMINE. */
  uidNextMissing = false;
  private readonly watchdog: Watchdog;
  private tail: Promise<unknown> = Promise.resolve();
  private closeReason: ImapError | null = null;
  private lastFlowError: unknown;
  private readonly closeListeners = new Set<(reason: ImapError | null) => void>();
  private loggingOut = false;

  constructor(client: ImapFlow, ctx: SessionContext, watchdog: Watchdog) {
    this.client = client;
    this.ctx = ctx;
    this.watchdog = watchdog;
    this.capabilities = new Set([...client.capabilities.keys()].map((name) => name.toUpperCase()));
    const ns = client.namespace;
    this.namespace = { prefix: ns?.prefix ?? '', delimiter: ns?.delimiter ?? '/' };
    this.provider = detectProvider(ctx.provider, ctx.host, this.capabilities);
    this.gmail = usesGmailExtensions(this.provider, this.capabilities);
    client.on('error', (error: unknown) => {
      this.lastFlowError = error;
    });
    client.on('close', () => {
      this.selected = null;
      this.watchdog.stop();
      if (!this.closeReason && !this.loggingOut) {
        this.closeReason =
          this.watchdog.reason ??
          limitError(this.lastFlowError, ctx.account, ctx.limits) ??
          imapError('CONNECTION_LOST', ctx.account, `connection to ${ctx.host}:${ctx.port} closed`, {
            retryable: true,
          });
      }
      for (const listener of this.closeListeners) listener(this.loggingOut ? null : this.closeReason);
      this.closeListeners.clear();
    });
  }

  get account(): string {
    return this.ctx.account;
  }

  /** True once the connection is gone (closed by the server, dropped, timed out or logged out). */
  get closed(): boolean {
    return !this.client.usable;
  }

  /** Calls `listener` once when the connection closes: the reason when lost, `null` after `logout()`. */
  onClose(listener: (reason: ImapError | null) => void): () => void {
    if (this.closed) {
      queueMicrotask(() => listener(this.loggingOut ? null : this.closeReason));
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  serverPath(logical: string): ServerPath {
    return toServerName(logical, this.namespace) as ServerPath;
  }

  logicalName(path: string): string {
    return toLogicalName(path, this.namespace);
  }

  /** `what`, with the selected mailbox named: what error lines and the watchdog say. */
  describe(what: string): string {
    return this.selected ? `${what} in "${this.selected.logical}"` : what;
  }

  warn(message: string, attributes: Record<string, unknown> = {}): void {
    this.ctx.logger?.warn(`account ${this.account}: ${message}`, { account: this.account, ...attributes });
  }

  /** Runs `fn` after every earlier call finished: one command at a time on the session. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (this.closed && !this.loggingOut) throw this.lostReason();
      return fn();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs one server round trip (`what` names it) under the stall detector,
   * mapping its failure, except errors `passThrough` claims. Every command of
   * a session goes through here.
   */
  async run<T>(what: string, fn: () => Promise<T>, passThrough?: (error: unknown) => boolean): Promise<T> {
    const described = this.describe(what);
    this.watchdog.busy(described);
    try {
      return await fn();
    } catch (error) {
      // The caller's own failures (a sink that could not store a body) are not the server's.
      if (passThrough?.(error)) throw error;
      throw this.failed(error, described);
    } finally {
      this.watchdog.idle();
    }
  }

  /** One command through ImapFlow's runner, with handlers for its untagged responses. */
  exec(
    command: string,
    attributes: unknown[] | false,
    what: string,
    untagged?: UntaggedHandlers,
  ): Promise<Untagged> {
    return this.run(what, () => execCommand(this.client, command, attributes, untagged));
  }

  /** The error for a failed command: the reason the session ended when it did, else the server's answer. */
  failed(error: unknown, what: string): ImapError {
    if (this.closeReason && !this.loggingOut) return this.closeReason;
    const { account, limits } = this.ctx;
    // A bound passed (ours, or ImapFlow's parser limits, which close the connection) is the cause.
    const bound =
      this.watchdog.reason ??
      limitError(error, account, limits) ??
      (this.closed ? limitError(this.lastFlowError, account, limits) : undefined);
    if (bound) return this.markLost(bound);
    if (this.closed && !this.loggingOut) {
      return imapError('CONNECTION_LOST', account, `connection lost during ${what}`, {
        cause: error,
        retryable: true,
      });
    }
    return commandError(error, account, what, this.ctx.password);
  }

  /** Ends the session for `reason` (what later calls will fail with) and closes the connection. */
  markLost(reason: ImapError): ImapError {
    this.closeReason ??= reason;
    if (!this.closed) this.client.close();
    return this.closeReason;
  }

  /**
   * Starts one use of a pooled session: nothing selected on our side (every
   * command needs its own SELECT or EXAMINE first), and the use's own deadline.
   */
  beginUse(deadline: number): void {
    this.selected = null;
    this.watchdog.setDeadline(deadline);
  }

  /** Between two uses: no deadline of its own (the pool's idle bound applies). */
  park(): void {
    this.selected = null;
    this.watchdog.setDeadline(Number.POSITIVE_INFINITY);
  }

  /** NOOP (RFC 3501 6.1.2): is the session still there? Untagged updates it brings are ignored. */
  noop(): Promise<void> {
    return this.exclusive(async () => {
      await this.exec('NOOP', false, 'NOOP');
    });
  }

  /** Resolves once every call queued so far has finished (whatever its outcome). */
  settled(): Promise<void> {
    return this.exclusive(async () => undefined).catch(() => undefined);
  }

  requireSelected(what: string, readWrite = false): Selected {
    const selected = this.selected;
    if (!selected)
      throw imapError(
        'COMMAND_FAILED',
        this.account,
        `${what} needs a selected mailbox (call examine or select first)`,
      );
    if (readWrite && selected.readOnly) {
      throw imapError(
        'COMMAND_FAILED',
        this.account,
        `${what} needs "${selected.logical}" selected read-write (call select, not examine)`,
      );
    }
    return selected;
  }

  async logout(): Promise<void> {
    if (this.closed) {
      this.watchdog.stop();
      return;
    }
    this.loggingOut = true;
    try {
      await this.exclusive(() => this.run('LOGOUT', () => this.client.logout()));
    } catch {
      // The connection is going away either way; LOGOUT failing must not mask the caller's result.
      this.client.close();
    } finally {
      this.watchdog.stop();
    }
  }

  private lostReason(): ImapError {
    return (
      this.closeReason ??
      imapError(
        'CONNECTION_LOST',
        this.account,
        `connection to ${this.ctx.host}:${this.ctx.port} is closed`,
        {
          retryable: true,
        },
      )
    );
  }
}
