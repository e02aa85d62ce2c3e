/**
 * The mail server port: an IMAP session as the use cases need it (metadata,
 * sources, flags, moves, watches), and the names and states it speaks in.
 */
import type { Readable } from 'node:stream';
import type { AccountConfig } from '../config/schema.ts';
import type { HeldBytes } from './blobs.ts';
import type { Envelope, QueueMessage } from './queue.ts';

/** Where a message sits on the server, as returned by the metadata fetch. */
export interface MessageMeta {
  uid: number;
  size: number;
  internalDate: Date;
  flags: string[];
  /** Present when asked for (`envelope` or `messageId` in `MetaFields`) and the message has one. */
  messageId?: string;
  /** Present when asked for (`envelope` in `MetaFields`). */
  envelope?: Envelope;
  /** Gmail's message id, thread id and labels, on a server with X-GM-EXT-1 (`lib/imap/provider.ts`). */
  gmail?: GmailFacts;
}

/** What Gmail says about a message (X-GM-MSGID, X-GM-THRID, X-GM-LABELS), as the queue message carries it. */
export type GmailFacts = NonNullable<QueueMessage['gmail']>;

/**
 * What `fetchMeta` asks for beyond UID, size, internal date and flags. Ingest
 * asks for neither (it reads both from the header of the body it fetches);
 * a rescan needs Message-IDs before any body, `dry-run` the envelope.
 */
export interface MetaFields {
  /** IMAP ENVELOPE: subject, addresses, date and Message-ID as the server parsed them. */
  envelope?: boolean;
  /** Message-ID read from the header (`BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]`) as ingest reads it. */
  messageId?: boolean;
}

/** Receives one message's raw source from `fetchSources`. */
export type SourceSink = (uid: number, source: HeldBytes | Readable) => Promise<void>;

declare const serverPathBrand: unique symbol;

/**
 * A mailbox name as the server spells it: the personal namespace prefix and
 * the server's delimiter applied (`INBOX.Finance.Invoices`), or a special-use
 * folder's name found by LIST. Config and queue messages carry logical names
 * (`Finance/Invoices`); only the IMAP adapter turns one into the other, and
 * the type keeps a server name from being mapped a second time.
 */
export type ServerPath = string & { readonly [serverPathBrand]: true };

/** What EXAMINE/SELECT (or STATUS) told us about a mailbox. */
export interface MailboxState {
  /** The server's name for the mailbox (namespace and delimiter applied). */
  path: ServerPath;
  /** Never 0: a server that answers UIDVALIDITY 0 is refused (RFC 3501 2.3.1.1). */
  uidValidity: number;
  /**
   * The next UID the server will assign. Where the server leaves UIDNEXT out
   * of its answers (or sends 0), the highest UID in use plus one.
   */
  uidNext: number;
  exists: number;
  highestModSeq?: string;
}

/**
 * One authenticated IMAP session (the `MailServer` port). The poll use case
 * drives it; `lib/imap/` implements it over ImapFlow.
 */
export interface MailServer {
  /** The server's capabilities as read after login. */
  readonly capabilities: ReadonlySet<string>;
  /** EXAMINE (read-only) the logical mailbox name (`/`-separated). */
  examine(mailbox: string): Promise<MailboxState>;
  /** UIDs greater than `afterUid` in the open mailbox (`UID SEARCH UID n:*`, filtered). */
  searchNewerThan(afterUid: number): Promise<number[]>;
  /** UIDs of messages with an internal date on or after `since` (`UID SEARCH SINCE`). */
  searchSince(since: Date): Promise<number[]>;
  /** Size, internal date and flags of the given UIDs (no bodies), plus `fields`. */
  fetchMeta(uids: number[], fields?: MetaFields): Promise<MessageMeta[]>;
  /**
   * Hands the raw source of each UID (`BODY.PEEK[]`: never sets `\Seen`) to
   * `sink`, one message at a time, in UID order, awaiting each call (that is the
   * backpressure). Small messages come as bytes held in memory (one buffer or
   * the pieces they arrived in), many per command; large ones (by `sizes`, from
   * RFC822.SIZE) as a stream the sink must consume before it resolves. UIDs the
   * server no longer has are skipped.
   */
  fetchSources(uids: number[], sizes: ReadonlyMap<number, number>, sink: SourceSink): Promise<void>;
  logout(): Promise<void>;

  // --- acting on messages (the process use case) ---

  /** SELECT (read-write) the logical mailbox name. */
  select(mailbox: string): Promise<MailboxState>;
  /**
   * The server path of a folder target: a logical name mapped to the personal
   * namespace and delimiter, or a special-use folder found by LIST (RFC 6154).
   * With `create`, a missing named folder is created. Undefined: no such folder.
   */
  resolveFolder(target: FolderRef, options: { create: boolean }): Promise<ServerPath | undefined>;
  /** Which of `uids` still exist in the selected mailbox (`UID SEARCH UID set`). */
  existingUids(uids: number[]): Promise<number[]>;
  /** `UID STORE +FLAGS` / `-FLAGS` over the set (one command). */
  addFlags(uids: number[], flags: string[]): Promise<void>;
  removeFlags(uids: number[], flags: string[]): Promise<void>;
  /** `UID COPY` to a server path. */
  copy(uids: number[], path: ServerPath): Promise<void>;
  /**
   * `UID MOVE` when offered; else `UID COPY` + `UID STORE +FLAGS (\Deleted)` +
   * `UID EXPUNGE` (UIDPLUS). Never a plain EXPUNGE: it would also remove what
   * the user marked deleted. Without UIDPLUS the originals stay `\Deleted`.
   */
  move(uids: number[], path: ServerPath): Promise<RemovalOutcome>;
  /** `\Deleted` + `UID EXPUNGE` of exactly these UIDs (UIDPLUS); without UIDPLUS, only `\Deleted`. */
  deleteMessages(uids: number[]): Promise<RemovalOutcome>;
  /** UIDs of messages with this Message-ID in a folder (server path). Opens that folder read-only: select the source again afterwards. */
  findByMessageId(path: ServerPath, messageId: string): Promise<number[]>;

  // --- provider quirks (`lib/imap/provider.ts`); absent on servers that have none ---

  /** Whose quirks the session follows. @default generic */
  readonly provider?: 'gmail' | 'microsoft' | 'generic';
  /** Gmail: `UID STORE +X-GM-LABELS` over the set; present only where the server has X-GM-EXT-1. */
  addLabels?(uids: number[], labels: string[]): Promise<void>;
  /** Gmail: `UID STORE -X-GM-LABELS` over the set. */
  removeLabels?(uids: number[], labels: string[]): Promise<void>;
  /** Flags of the messages in the open mailbox changed since `modSeq` (CONDSTORE `CHANGEDSINCE`). */
  fetchFlagChanges?(modSeq: string): Promise<FlagChange[]>;
}

/** One message's flags as a CONDSTORE fetch reported them. */
export interface FlagChange {
  uid: number;
  /** Without `\\Recent`. */
  flags: string[];
  modSeq?: string;
}

/** What the use case that opens a session tells it about its time. */
export interface SessionOptions {
  /**
   * Epoch ms by which the whole session must have ended (a Lambda's timeout
   * less a margin). The account's `limits.sessionSeconds` applies as well;
   * the earlier wins. Past it the session is closed and the command waiting
   * on it fails with `IMAP_DEADLINE`, naming what it was doing.
   */
  deadline?: number;
}

/** Opens an authenticated session for the account (LOGIN done, capabilities read). */
export type OpenSession = (account: AccountConfig, options?: SessionOptions) => Promise<MailServer>;

/** A logical folder name (`/`-separated) or a special-use attribute such as `\\Junk`. */
export type FolderRef = { path: string } | { specialUse: string };

export interface RemovalOutcome {
  /** True when the messages are gone from the source; false when left marked `\Deleted` (no UIDPLUS). */
  expunged: boolean;
  /** Which commands did it, for results and tests: `move`, `copy+expunge`, `copy+deleted`, `expunge`, `deleted`. */
  method: string;
}

/** A running watch on one mailbox (IMAP IDLE, or the server's fallback). */
export interface MailboxWatch {
  close(): Promise<void>;
}

/** What a mailbox watch tells its owner (`postroom run`'s runner). */
export interface WatchHandlers {
  /** New mail arrived (EXISTS grew). */
  onNewMail(): void;
  /** The connection ended unexpectedly; the runner reconnects with backoff. */
  onLost(error: unknown): void;
}
