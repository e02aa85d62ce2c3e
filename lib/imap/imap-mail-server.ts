/**
 * The `MailServer` port over one authenticated ImapFlow session, plus the
 * actions the rules consumer needs (flags, copy, move, expunge by UID).
 *
 * Calls are serialised (one IMAP command at a time), which the protocol needs
 * anyway and the fast fetch path relies on: it borrows the socket while the
 * session is idle (see `raw-fetch.ts`). Tagged NO/BAD answers become
 * `ImapError`s carrying the server's text; nothing is ignored.
 */
import type { ImapFlow, MailboxObject, MessageAddressObject } from 'imapflow';
import { encodePath } from 'imapflow/lib/tools.js';
import { ImapError } from '../errors.ts';
import { headerFacts } from '../mime/header-envelope.ts';
import type {
  Address,
  FolderRef,
  Logger,
  MailboxState,
  MailServer,
  MessageMeta,
  MetaFields,
  RemovalOutcome,
  SourceSink,
} from '../ports.ts';
import { commandError, imapError, oneLine, serverAnswer } from './errors.ts';
import { type PersonalNamespace, toLogicalName, toServerName, uidSets } from './mailbox-names.ts';
import {
  canBorrowSocket,
  FetchConnectionLost,
  FetchRejected,
  parseMetadataLine,
  type RawFetchOptions,
  rawUidFetch,
} from './raw-fetch.ts';

/** Knobs for `fetchSources` and timeouts. */
export interface MailServerTuning {
  /** Messages of at least this size (RFC822.SIZE) are streamed one per command. @default 4 MiB */
  largeMessageBytes: number;
  /** Complete small messages read ahead of the sink before the socket is paused. @default 8 MiB */
  readAheadBytes: number;
  /** A session the server leaves silent this long (while we wait for it) is dead. @default 120000 */
  socketTimeoutMs: number;
  /**
   * `auto`: the fast path when ImapFlow's internals allow it, else ImapFlow's own
   * fetch. `imapflow`: always ImapFlow's fetch iterator and `download()`.
   * @default auto
   */
  fetchEngine: 'auto' | 'imapflow';
}

/** What the adapter knows about its session (never logged as a whole: it holds the password). */
export interface SessionContext extends Partial<MailServerTuning> {
  account: string;
  host: string;
  port: number;
  /** Only used to keep it out of error messages. */
  password: string;
  trace?: (line: string) => void;
  logger?: Logger;
}

/** Result of `copy`: where the copies went, when the server said (COPYUID, RFC 4315). */
export interface CopyResult {
  /** Source UID → UID in the target mailbox. */
  uidMap?: Map<number, number>;
  /** UIDVALIDITY of the target mailbox. */
  targetUidValidity?: number;
}

interface ExecResult {
  response: { attributes?: unknown[] };
  next: () => void;
}
interface Untagged {
  command?: string;
  attributes?: { type?: string; value?: unknown; section?: unknown[] }[];
  numbers?: number[];
}
/** ImapFlow's command runner: internal but stable, and the only way to see every NO/BAD. */
interface FlowExec {
  exec(
    command: string,
    attributes: unknown[] | false,
    options?: { untagged?: Record<string, (untagged: Untagged) => Promise<void>> },
  ): Promise<ExecResult>;
}

const DEFAULTS: MailServerTuning = {
  largeMessageBytes: 4 * 1024 * 1024,
  readAheadBytes: 8 * 1024 * 1024,
  socketTimeoutMs: 120_000,
  fetchEngine: 'auto',
};
/** Flags and keywords are atoms (RFC 3501 `flag`, ATOM-CHAR): printable, no `(){ %*"\\]`. */
const FLAG = /^\\?[\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c\x7d\x7e]+$/;

interface Selected {
  logical: string;
  path: string;
  readOnly: boolean;
  uidValidity: number;
}

/** One authenticated session. Create with `connectMailServer`. */
export class ImapMailServer implements MailServer {
  readonly capabilities: ReadonlySet<string>;
  /** The personal namespace (RFC 2342) that logical names are mapped into. */
  readonly namespace: PersonalNamespace;
  private readonly client: ImapFlow;
  private readonly ctx: SessionContext;
  private readonly tuning: MailServerTuning;
  private selected: Selected | null = null;
  private uidNextMissing = false;
  private tail: Promise<unknown> = Promise.resolve();
  private rawTag = 0;
  private closeReason: ImapError | null = null;
  private readonly closeListeners = new Set<(reason: ImapError | null) => void>();
  private loggingOut = false;

  constructor(client: ImapFlow, ctx: SessionContext) {
    this.client = client;
    this.ctx = ctx;
    this.tuning = {
      largeMessageBytes: ctx.largeMessageBytes ?? DEFAULTS.largeMessageBytes,
      readAheadBytes: ctx.readAheadBytes ?? DEFAULTS.readAheadBytes,
      socketTimeoutMs: ctx.socketTimeoutMs ?? DEFAULTS.socketTimeoutMs,
      fetchEngine: ctx.fetchEngine ?? DEFAULTS.fetchEngine,
    };
    // ImapFlow re-reads CAPABILITY after login (it changes, RFC 3501 6.2.3): these are post-login.
    this.capabilities = new Set([...client.capabilities.keys()].map((name) => name.toUpperCase()));
    const ns = client.namespace;
    this.namespace = { prefix: ns?.prefix ?? '', delimiter: ns?.delimiter ?? '/' };
    client.on('close', () => {
      this.selected = null;
      if (!this.closeReason && !this.loggingOut) {
        this.closeReason = imapError(
          'CONNECTION_LOST',
          ctx.account,
          `connection to ${ctx.host}:${ctx.port} closed`,
          {
            retryable: true,
          },
        );
      }
      for (const listener of this.closeListeners) listener(this.loggingOut ? null : this.closeReason);
      this.closeListeners.clear();
    });
  }

  /** True once the connection is gone (closed by the server, dropped, or logged out). */
  get closed(): boolean {
    return !this.client.usable;
  }

  /**
   * Calls `listener` once when the connection closes: with the reason when it was
   * lost, with `null` after `logout()`. Returns an unsubscribe function.
   */
  onClose(listener: (reason: ImapError | null) => void): () => void {
    if (this.closed) {
      queueMicrotask(() => listener(this.loggingOut ? null : this.closeReason));
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** The server's name for a logical (`/`-separated) mailbox name. */
  serverName(mailbox: string): string {
    return toServerName(mailbox, this.namespace);
  }

  /** The logical name for a server mailbox name. */
  logicalName(path: string): string {
    return toLogicalName(path, this.namespace);
  }

  /** The logical name of the selected mailbox, if any. */
  get selectedMailbox(): string | undefined {
    return this.selected?.logical;
  }

  examine(mailbox: string): Promise<MailboxState> {
    return this.exclusive(() => this.open(mailbox, true));
  }

  /** SELECT (read-write) the logical mailbox, for actions. */
  select(mailbox: string): Promise<MailboxState> {
    return this.exclusive(() => this.open(mailbox, false));
  }

  searchNewerThan(afterUid: number): Promise<number[]> {
    return this.exclusive(async () => {
      this.requireSelected('UID SEARCH');
      // `n:*` always includes the highest UID in use, even when it is below n
      // (RFC 3501 6.4.8, `*` is the largest UID): filter.
      const found = await this.uidSearch(
        [
          { type: 'ATOM', value: 'UID' },
          { type: 'SEQUENCE', value: `${afterUid + 1}:*` },
        ],
        `UID SEARCH UID ${afterUid + 1}:*`,
      );
      return found.filter((uid) => uid > afterUid);
    });
  }

  searchSince(since: Date): Promise<number[]> {
    return this.exclusive(async () => {
      this.requireSelected('UID SEARCH');
      const date = imapDate(since);
      return this.uidSearch(
        [
          { type: 'ATOM', value: 'SINCE' },
          { type: 'ATOM', value: date },
        ],
        `UID SEARCH SINCE ${date}`,
      );
    });
  }

  /**
   * UIDs of messages with this Message-ID in a folder given by its server path.
   * EXAMINEs that folder unless it is the selected one: select the source again afterwards.
   */
  findByMessageId(path: string, messageId: string): Promise<number[]> {
    return this.exclusive(async () => {
      if (this.selected?.path !== path) await this.openPath(this.logicalName(path), path, true);
      return this.uidSearch(
        [
          { type: 'ATOM', value: 'HEADER' },
          { type: 'STRING', value: 'Message-ID' },
          { type: 'STRING', value: messageId },
        ],
        'UID SEARCH HEADER Message-ID',
      );
    });
  }

  /** Which of `uids` still exist in the selected mailbox (`UID SEARCH UID set`, one command per set). */
  existingUids(uids: number[]): Promise<number[]> {
    return this.exclusive(async () => {
      this.requireSelected('UID SEARCH');
      const found: number[] = [];
      for (const set of uidSets(uids)) {
        found.push(
          ...(await this.uidSearch(
            [
              { type: 'ATOM', value: 'UID' },
              { type: 'SEQUENCE', value: set },
            ],
            `UID SEARCH UID ${set}`,
          )),
        );
      }
      // `n:*`-style sets can match the highest UID; only the ones asked for count.
      const wanted = new Set(uids);
      return found.filter((uid) => wanted.has(uid));
    });
  }

  fetchMeta(uids: number[], fields: MetaFields = {}): Promise<MessageMeta[]> {
    return this.exclusive(async () => {
      this.requireSelected('UID FETCH');
      const metas: MessageMeta[] = [];
      const query = {
        uid: true,
        size: true,
        internalDate: true,
        flags: true,
        ...(fields.envelope ? { envelope: true } : {}),
        ...(fields.messageId && !fields.envelope ? { headers: ['message-id'] } : {}),
      };
      const plain = !fields.envelope && !fields.messageId;
      // Never FETCH an empty set: the server answers BAD (DESIGN.md).
      for (const set of uidSets(uids)) {
        if (plain && this.tuning.fetchEngine === 'auto' && canBorrowSocket(this.client)) {
          // The common case (every ingest batch) on the fast path: ImapFlow's generic
          // response parser spent ~50 µs a message on these four items.
          const what = `UID FETCH ${set} (UID RFC822.SIZE INTERNALDATE FLAGS)`;
          await this.rawFetch(set, what, {
            onMessage: async () => {},
            metadata: {
              items: 'UID RFC822.SIZE INTERNALDATE FLAGS',
              onFetchLine: (text) => {
                const meta = parseMetadataLine(text);
                if (meta) metas.push(meta);
                return meta !== undefined;
              },
            },
          });
          continue;
        }
        try {
          for await (const message of this.client.fetch(set, query, { uid: true })) {
            const internal =
              message.internalDate instanceof Date
                ? message.internalDate
                : new Date(String(message.internalDate));
            const meta: MessageMeta = {
              uid: message.uid,
              size: message.size ?? 0,
              internalDate: internal,
              flags: [...(message.flags ?? [])],
            };
            if (message.envelope) {
              const envelope = message.envelope;
              const date =
                envelope.date instanceof Date && !Number.isNaN(envelope.date.getTime())
                  ? envelope.date
                  : undefined;
              if (envelope.messageId) meta.messageId = envelope.messageId;
              meta.envelope = {
                subject: envelope.subject || undefined,
                from: addresses(envelope.from),
                to: addresses(envelope.to),
                cc: addresses(envelope.cc),
                date: date?.toISOString(),
              };
            } else if (message.headers) {
              // The same reading as ingest's, so a rescan's fingerprints match the delivered ones.
              const { messageId } = headerFacts(message.headers);
              if (messageId) meta.messageId = messageId;
            }
            metas.push(meta);
          }
        } catch (error) {
          throw this.failed(error, `UID FETCH ${set}`);
        }
      }
      return metas.sort((a, b) => a.uid - b.uid);
    });
  }

  fetchSources(uids: number[], sizes: ReadonlyMap<number, number>, sink: SourceSink): Promise<void> {
    return this.exclusive(async () => {
      this.requireSelected('UID FETCH');
      const sorted = [...new Set(uids)]
        .filter((uid) => Number.isInteger(uid) && uid > 0)
        .sort((a, b) => a - b);
      // Small messages go many per command; each large one gets a command of its
      // own and is streamed, so UID order is kept and memory stays bounded.
      let run: number[] = [];
      const flush = async () => {
        for (const set of uidSets(run)) await this.fetchBodies(set, undefined, sink);
        run = [];
      };
      for (const uid of sorted) {
        if ((sizes.get(uid) ?? 0) >= this.tuning.largeMessageBytes) {
          await flush();
          await this.fetchBodies(String(uid), uid, sink);
        } else run.push(uid);
      }
      await flush();
    });
  }

  /** Adds flags (`\Seen`, `$Label`) to UIDs in the selected mailbox: one `UID STORE +FLAGS.SILENT`. */
  addFlags(uids: number[], flags: string[]): Promise<void> {
    return this.exclusive(() => this.store(uids, '+FLAGS.SILENT', flags));
  }

  /** Removes flags from UIDs in the selected mailbox: one `UID STORE -FLAGS.SILENT`. */
  removeFlags(uids: number[], flags: string[]): Promise<void> {
    return this.exclusive(() => this.store(uids, '-FLAGS.SILENT', flags));
  }

  /** `UID COPY` to a server path (see `resolveFolder`). */
  async copy(uids: number[], path: string): Promise<void> {
    await this.copyWithUids(uids, path);
  }

  /** `UID COPY` to a server path, with the UIDs the copies got when the server says (COPYUID, RFC 4315). */
  copyWithUids(uids: number[], path: string): Promise<CopyResult> {
    return this.exclusive(() => this.copyNow(uids, path));
  }

  /**
   * Moves UIDs to a server path: `UID MOVE` (RFC 6851) where offered, else
   * `UID COPY` + `UID STORE +FLAGS.SILENT (\Deleted)` + `UID EXPUNGE` (RFC 4315).
   * Never a plain EXPUNGE, which would also remove messages the user marked
   * deleted: without UIDPLUS the originals stay, marked `\Deleted`
   * (`expunged: false`, method `copy+deleted`).
   */
  move(uids: number[], path: string): Promise<RemovalOutcome & CopyResult> {
    return this.exclusive(async () => {
      const selected = this.requireSelected('UID MOVE', true);
      const sets = uidSets(uids);
      if (this.capabilities.has('MOVE')) {
        const result: RemovalOutcome & CopyResult = { expunged: true, method: 'move' };
        for (const set of sets) {
          let copyUid: CopyResult = {};
          const response = await this.exec(
            'UID MOVE',
            [
              { type: 'SEQUENCE', value: set },
              { type: 'STRING', value: encodePath(this.client, path) },
            ],
            `UID MOVE ${set} "${this.logicalName(path)}"`,
            {
              // RFC 6851 3.3: COPYUID arrives in an untagged OK before the expunges.
              OK: async (untagged) => {
                copyUid = parseCopyUid(untagged) ?? copyUid;
              },
            },
          );
          copyUid = parseCopyUid(response) ?? copyUid;
          mergeCopyResult(result, copyUid);
        }
        return result;
      }
      const copied = sets.length > 0 ? await this.copyNow(uids, path) : {};
      const removal = await this.removeNow(uids, selected, `moved to "${this.logicalName(path)}" by copy`);
      return {
        ...copied,
        expunged: removal.expunged,
        method: removal.expunged ? 'copy+expunge' : 'copy+deleted',
      };
    });
  }

  /**
   * Marks exactly these UIDs `\Deleted` and expunges them with `UID EXPUNGE`
   * (UIDPLUS, RFC 4315): method `expunge`. Without UIDPLUS they stay marked
   * (`expunged: false`, method `deleted`): a plain EXPUNGE would remove every
   * message marked `\Deleted`, not just these.
   */
  deleteMessages(uids: number[]): Promise<RemovalOutcome> {
    return this.exclusive(async () => {
      const selected = this.requireSelected('UID STORE', true);
      const removal = await this.removeNow(uids, selected, 'deleted');
      return { expunged: removal.expunged, method: removal.expunged ? 'expunge' : 'deleted' };
    });
  }

  /**
   * The server path of a folder target: a logical name mapped into the personal
   * namespace, or the folder LIST marks with a special-use attribute (RFC 6154).
   * With `create`, a missing named folder is created (with its parents).
   * Undefined: no such folder.
   */
  resolveFolder(target: FolderRef, options: { create: boolean }): Promise<string | undefined> {
    return this.exclusive(async () => {
      if ('specialUse' in target) {
        const list = await this.listFolders();
        const use = target.specialUse.toLowerCase();
        return list.find((entry) => entry.specialUse?.toLowerCase() === use)?.path;
      }
      const path = this.serverName(target.path);
      if (path === 'INBOX') return path;
      if (options.create) {
        await this.createNow(target.path, path);
        return path;
      }
      const list = await this.listFolders();
      return list.some((entry) => entry.path === path) ? path : undefined;
    });
  }

  /** Creates the logical mailbox (and its parents) unless it exists; returns its server path. */
  ensureMailbox(name: string): Promise<{ path: string; created: boolean }> {
    return this.exclusive(async () => {
      const path = this.serverName(name);
      if (path === 'INBOX') return { path, created: false };
      return { path, created: await this.createNow(name, path) };
    });
  }

  async logout(): Promise<void> {
    if (this.closed) return;
    this.loggingOut = true;
    try {
      await this.exclusive(() => this.client.logout());
    } catch {
      // The connection is going away either way; LOGOUT failing must not mask the caller's result.
      this.client.close();
    }
  }

  // ---- internals ----

  /** Runs `fn` after every earlier call finished: one command at a time on the session. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (this.closed && !this.loggingOut) {
        throw (
          this.closeReason ??
          imapError(
            'CONNECTION_LOST',
            this.ctx.account,
            `connection to ${this.ctx.host}:${this.ctx.port} is closed`,
            {
              retryable: true,
            },
          )
        );
      }
      return fn();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private failed(error: unknown, what: string): ImapError {
    if (error instanceof ImapError) return error;
    if (this.closed && this.closeReason && !this.loggingOut) {
      return imapError('CONNECTION_LOST', this.ctx.account, `connection lost during ${what}`, {
        cause: error,
        retryable: true,
      });
    }
    return commandError(error, this.ctx.account, what, this.ctx.password);
  }

  private requireSelected(what: string, readWrite = false): Selected {
    const selected = this.selected;
    if (!selected)
      throw imapError(
        'COMMAND_FAILED',
        this.ctx.account,
        `${what} needs a selected mailbox (call examine or select first)`,
      );
    if (readWrite && selected.readOnly) {
      throw imapError(
        'COMMAND_FAILED',
        this.ctx.account,
        `${what} needs "${selected.logical}" selected read-write (call select, not examine)`,
      );
    }
    return selected;
  }

  private open(mailbox: string, readOnly: boolean): Promise<MailboxState> {
    return this.openPath(mailbox, this.serverName(mailbox), readOnly);
  }

  /**
   * ImapFlow sends LIST (and LSUB) for a folder before its first SELECT or
   * EXAMINE in a session, only to label its result with the delimiter and
   * special-use flags. Postroom knows the delimiter from NAMESPACE and looks
   * special-use folders up itself, so it seeds ImapFlow's folder cache and
   * saves two round trips on every poll (an empty poll is mostly round trips).
   * A missing folder is still detected: a refused SELECT makes ImapFlow LIST.
   * Feature-detected, like the fast fetch path: without the cache, nothing changes.
   */
  private skipLabelListing(path: string): void {
    const folders = (this.client as unknown as { folders?: unknown }).folders;
    if (folders instanceof Map && !folders.has(path)) {
      folders.set(path, {
        path,
        delimiter: this.namespace.delimiter,
        listed: true,
        flags: new Set<string>(),
      });
    }
  }

  private async openPath(mailbox: string, path: string, readOnly: boolean): Promise<MailboxState> {
    const verb = readOnly ? 'EXAMINE' : 'SELECT';
    this.selected = null;
    try {
      // UIDNEXT may be missing from the SELECT/EXAMINE reply (it is optional in
      // RFC 3501's list of required responses on some servers): ask STATUS, but
      // before selecting, since some servers answer STATUS for the selected
      // mailbox from a stale view.
      let statusUidNext: number | undefined;
      if (this.uidNextMissing) statusUidNext = await this.statusUidNext(path);
      this.skipLabelListing(path);
      let opened = await this.client.mailboxOpen(path, { readOnly });
      if (opened.uidNext === undefined && statusUidNext === undefined) {
        this.uidNextMissing = true;
        await this.leaveMailbox(path, readOnly);
        statusUidNext = await this.statusUidNext(path);
        opened = await this.client.mailboxOpen(path, { readOnly });
      }
      return this.remember(mailbox, path, readOnly, opened, statusUidNext);
    } catch (error) {
      const missing =
        (error as { mailboxMissing?: boolean }).mailboxMissing === true ||
        /\[NONEXISTENT\]/i.test(serverAnswer(error) ?? '') ||
        (error as { serverResponseCode?: string }).serverResponseCode === 'NONEXISTENT';
      if (missing) {
        throw imapError(
          'MAILBOX_NOT_FOUND',
          this.ctx.account,
          `mailbox "${mailbox}" does not exist: ${serverAnswer(error) ?? oneLine(String((error as Error).message))}`,
          { cause: error, password: this.ctx.password, context: { mailbox, path } },
        );
      }
      throw this.failed(error, `${verb} "${mailbox}"`);
    }
  }

  /** Leaves the selected mailbox without expunging anything (RFC 3691 UNSELECT; CLOSE only when read-only). */
  private async leaveMailbox(path: string, readOnly: boolean): Promise<void> {
    if (this.capabilities.has('UNSELECT')) {
      await this.exec('UNSELECT', false, 'UNSELECT');
      return;
    }
    // CLOSE expunges a read-write mailbox (RFC 3501 6.4.2): make it read-only first.
    if (!readOnly) await this.client.mailboxOpen(path, { readOnly: true });
    await this.client.mailboxClose();
  }

  private async statusUidNext(path: string): Promise<number | undefined> {
    const status = await this.client.status(path, { uidNext: true, uidValidity: true });
    return status && typeof status.uidNext === 'number' ? status.uidNext : undefined;
  }

  private remember(
    logical: string,
    path: string,
    readOnly: boolean,
    opened: MailboxObject,
    statusUidNext: number | undefined,
  ): MailboxState {
    const uidValidity = Number(opened.uidValidity);
    this.selected = { logical, path, readOnly, uidValidity };
    const state: MailboxState = {
      path,
      uidValidity,
      uidNext: opened.uidNext ?? statusUidNext ?? 0,
      exists: opened.exists,
    };
    if (opened.highestModseq !== undefined && !opened.noModseq)
      state.highestModSeq = opened.highestModseq.toString();
    return state;
  }

  private async exec(
    command: string,
    attributes: unknown[] | false,
    what: string,
    untagged?: Record<string, (untagged: Untagged) => Promise<void>>,
  ): Promise<Untagged> {
    try {
      const result = await (this.client as unknown as FlowExec).exec(
        command,
        attributes,
        untagged ? { untagged } : undefined,
      );
      result.next();
      return result.response as Untagged;
    } catch (error) {
      throw this.failed(error, what);
    }
  }

  private async uidSearch(criteria: unknown[], what: string): Promise<number[]> {
    const found: number[] = [];
    await this.exec('UID SEARCH', criteria, what, {
      SEARCH: async (untagged) => {
        if (untagged.numbers) found.push(...untagged.numbers);
        else for (const attribute of untagged.attributes ?? []) found.push(Number(attribute.value));
      },
      // IMAP4rev2 servers (RFC 9051 6.4.4) answer ESEARCH: `* ESEARCH (TAG "x") UID ALL 1:5,9`.
      ESEARCH: async (untagged) => {
        const attributes = untagged.attributes ?? [];
        for (let index = 0; index < attributes.length - 1; index++) {
          if (String(attributes[index]?.value).toUpperCase() === 'ALL')
            found.push(...expandSet(String(attributes[index + 1]?.value)));
        }
      },
    });
    return [...new Set(found.filter((uid) => Number.isInteger(uid) && uid > 0))].sort((a, b) => a - b);
  }

  private async fetchBodies(set: string, singleUid: number | undefined, sink: SourceSink): Promise<void> {
    const what = `UID FETCH ${set} (BODY.PEEK[])`;
    if (this.tuning.fetchEngine === 'auto' && canBorrowSocket(this.client)) {
      await this.rawFetch(set, what, { singleUid, onMessage: sink });
      return;
    }
    await this.fetchBodiesWithImapFlow(set, singleUid, sink, what);
  }

  /** One FETCH on the fast path (see raw-fetch.ts), its failures mapped like every other command's. */
  private async rawFetch(
    set: string,
    what: string,
    options: Pick<RawFetchOptions, 'onMessage' | 'metadata'> & { singleUid?: number | undefined },
  ): Promise<void> {
    try {
      await rawUidFetch(this.client, {
        tag: `PR${++this.rawTag}`,
        uidSet: set,
        ...(options.singleUid !== undefined ? { singleUid: options.singleUid } : {}),
        streamThreshold: this.tuning.largeMessageBytes,
        readAheadBytes: this.tuning.readAheadBytes,
        maxBufferedBody: Math.max(this.tuning.largeMessageBytes * 4, 256 * 1024 * 1024),
        idleTimeoutMs: this.tuning.socketTimeoutMs,
        onMessage: options.onMessage,
        ...(options.metadata ? { metadata: options.metadata } : {}),
        trace: this.ctx.trace,
      });
    } catch (error) {
      if (error instanceof FetchConnectionLost) {
        // Make sure ImapFlow lets go of the session too (a silent server, a BYE).
        const lost = imapError(
          'CONNECTION_LOST',
          this.ctx.account,
          `connection lost during ${what}: ${error.message}`,
          {
            cause: error,
            retryable: true,
          },
        );
        this.closeReason = lost;
        this.client.close();
        throw lost;
      }
      if (error instanceof FetchRejected) {
        throw imapError(
          'COMMAND_FAILED',
          this.ctx.account,
          `${what} failed: ${error.status} ${oneLine(error.responseText)}`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  /** The portable path: ImapFlow's fetch iterator (small) and `download()` (large). */
  private async fetchBodiesWithImapFlow(
    set: string,
    singleUid: number | undefined,
    sink: SourceSink,
    what: string,
  ): Promise<void> {
    let sinkError: unknown;
    try {
      if (singleUid !== undefined) {
        // Partial fetches of 4 MiB: few round trips, bounded memory.
        const download = await this.client.download(String(singleUid), undefined, {
          uid: true,
          chunkSize: 4 * 1024 * 1024,
        });
        if (!download?.content) return;
        try {
          await sink(singleUid, download.content);
        } catch (error) {
          sinkError = error;
          download.content.destroy();
          throw error;
        }
        return;
      }
      for await (const message of this.client.fetch(set, { uid: true, source: true }, { uid: true })) {
        if (!message.source) continue;
        try {
          await sink(message.uid, message.source);
        } catch (error) {
          sinkError = error;
          throw error;
        }
      }
    } catch (error) {
      if (error === sinkError) throw error;
      throw this.failed(error, what);
    }
  }

  private async store(
    uids: number[],
    operation: '+FLAGS.SILENT' | '-FLAGS.SILENT',
    flags: string[],
  ): Promise<void> {
    this.requireSelected('UID STORE', true);
    const bad = flags.find((flag) => !FLAG.test(flag));
    if (bad !== undefined)
      throw imapError('COMMAND_FAILED', this.ctx.account, `invalid flag ${JSON.stringify(bad)}`);
    if (flags.length === 0) return;
    for (const set of uidSets(uids)) {
      await this.exec(
        'UID STORE',
        [
          { type: 'SEQUENCE', value: set },
          { type: 'ATOM', value: operation },
          flags.map((flag) => ({ type: 'ATOM', value: flag })),
        ],
        `UID STORE ${set} ${operation} (${flags.join(' ')})`,
      );
    }
  }

  private async copyNow(uids: number[], target: string): Promise<CopyResult> {
    this.requireSelected('UID COPY');
    const destination = this.serverName(target);
    const result: CopyResult = {};
    for (const set of uidSets(uids)) {
      const response = await this.exec(
        'UID COPY',
        [
          { type: 'SEQUENCE', value: set },
          { type: 'STRING', value: encodePath(this.client, destination) },
        ],
        `UID COPY ${set} "${target}"`,
      );
      mergeCopyResult(result, parseCopyUid(response) ?? {});
    }
    return result;
  }

  private async listFolders(): Promise<{ path: string; specialUse?: string }[]> {
    try {
      const list = await this.client.list();
      return list.map((entry) => ({ path: entry.path, specialUse: entry.specialUse }));
    } catch (error) {
      throw this.failed(error, 'LIST');
    }
  }

  private async createNow(name: string, path: string): Promise<boolean> {
    try {
      const result = await this.client.mailboxCreate(path);
      return Boolean(result?.created);
    } catch (error) {
      throw this.failed(error, `CREATE "${name}"`);
    }
  }

  /** `\Deleted` on exactly these UIDs, then `UID EXPUNGE` of them when UIDPLUS allows it. */
  private async removeNow(
    uids: number[],
    selected: Selected,
    action: string,
  ): Promise<{ expunged: boolean }> {
    await this.store(uids, '+FLAGS.SILENT', ['\\Deleted']);
    if (this.capabilities.has('UIDPLUS')) {
      await this.expungeNow(uidSets(uids));
      return { expunged: true };
    }
    this.ctx.logger?.warn(
      `account ${this.ctx.account}: ${uids.length} message(s) in "${selected.logical}" ${action}; the server has no UIDPLUS, so they stay marked \\Deleted (a plain EXPUNGE would also remove messages the user marked deleted)`,
    );
    return { expunged: false };
  }

  private async expungeNow(sets: string[]): Promise<void> {
    for (const set of sets) {
      await this.exec('UID EXPUNGE', [{ type: 'SEQUENCE', value: set }], `UID EXPUNGE ${set}`);
    }
  }
}

function addresses(list: MessageAddressObject[] | undefined): Address[] {
  return (list ?? []).map((entry) => {
    const address: Address = {};
    if (entry.name) address.name = entry.name;
    if (entry.address) address.address = entry.address;
    return address;
  });
}

/** IMAP `date` (RFC 3501 9: `1-Feb-2026`), in UTC like the rest of Postroom. */
function imapDate(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${date.getUTCDate()}-${months[date.getUTCMonth()]}-${date.getUTCFullYear()}`;
}

/** Expands a sequence set (`1:3,7`) into numbers; `*` is not expected in server answers. */
function expandSet(set: string): number[] {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const [from, to] = part.split(':').map(Number);
    if (from === undefined || !Number.isInteger(from)) continue;
    const end = to === undefined ? from : to;
    if (!Number.isInteger(end)) continue;
    const [low, high] = from <= end ? [from, end] : [end, from];
    for (let uid = low; uid <= high; uid++) out.push(uid);
  }
  return out;
}

/** `[COPYUID uidvalidity source-set target-set]` (RFC 4315 3) from a tagged or untagged OK. */
function parseCopyUid(response: Untagged | undefined): CopyResult | undefined {
  const section = response?.attributes?.[0]?.section as { value?: unknown }[] | undefined;
  if (!Array.isArray(section) || String(section[0]?.value).toUpperCase() !== 'COPYUID') return undefined;
  const targetUidValidity = Number(section[1]?.value);
  const source = expandSet(String(section[2]?.value ?? ''));
  const target = expandSet(String(section[3]?.value ?? ''));
  if (source.length !== target.length) return { targetUidValidity };
  return { targetUidValidity, uidMap: new Map(source.map((uid, index) => [uid, target[index]!])) };
}

function mergeCopyResult(into: CopyResult, from: CopyResult): void {
  if (from.targetUidValidity !== undefined) into.targetUidValidity = from.targetUidValidity;
  if (from.uidMap) {
    into.uidMap ??= new Map();
    for (const [source, target] of from.uidMap) into.uidMap.set(source, target);
  }
}
