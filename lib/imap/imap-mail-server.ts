/**
 * The `MailServer` port over one IMAP session. Each method takes its turn in
 * the session's queue (one command at a time) and delegates to its command
 * module in `commands/`; the session (`session.ts`) holds the state, the time
 * bounds and the error mapping.
 */
import type { ImapError } from '../errors.ts';
import type {
  FlagChange,
  FolderRef,
  MailboxState,
  MailServer,
  MessageMeta,
  MetaFields,
  RemovalOutcome,
  ServerPath,
  SourceSink,
} from '../ports.ts';
import { fetchFlagChanges } from './commands/changes.ts';
import { type CopyResult, copyMessages, moveMessages } from './commands/copy-move.ts';
import { removeMessages } from './commands/expunge.ts';
import { fetchSources } from './commands/fetch-bodies.ts';
import { fetchMeta } from './commands/fetch-meta.ts';
import { findByMessageId } from './commands/find-by-message-id.ts';
import { ensureMailbox, FolderDirectory, resolveFolder } from './commands/folders.ts';
import { storeLabels } from './commands/gmail-labels.ts';
import { existingUids, searchNewerThan, searchSince } from './commands/search.ts';
import { openMailbox } from './commands/select.ts';
import { storeFlags } from './commands/store.ts';
import type { PersonalNamespace } from './mailbox-names.ts';
import type { Provider } from './provider.ts';
import type { ImapSession } from './session.ts';

export type { CopyResult } from './commands/copy-move.ts';

/** One authenticated session. Create with `connectMailServer`. */
export class ImapMailServer implements MailServer {
  readonly session: ImapSession;
  /** What LIST said, for the session's life: folders are resolved once, however many batches use it. */
  private readonly folders = new FolderDirectory();

  constructor(session: ImapSession) {
    this.session = session;
  }

  get capabilities(): ReadonlySet<string> {
    return this.session.capabilities;
  }

  /** Whose quirks this session follows (`provider.ts`). */
  get provider(): Provider {
    return this.session.provider;
  }

  /** The personal namespace (RFC 2342) that logical names are mapped into. */
  get namespace(): PersonalNamespace {
    return this.session.namespace;
  }

  /** True once the connection is gone (closed by the server, dropped, timed out or logged out). */
  get closed(): boolean {
    return this.session.closed;
  }

  /** Calls `listener` once when the connection closes: the reason when lost, `null` after `logout()`. */
  onClose(listener: (reason: ImapError | null) => void): () => void {
    return this.session.onClose(listener);
  }

  /** The server's name for a logical (`/`-separated) mailbox name. */
  serverName(mailbox: string): ServerPath {
    return this.session.serverPath(mailbox);
  }

  /** The logical name for a server mailbox name. */
  logicalName(path: string): string {
    return this.session.logicalName(path);
  }

  /** The logical name of the selected mailbox, if any. */
  get selectedMailbox(): string | undefined {
    return this.session.selected?.logical;
  }

  examine(mailbox: string): Promise<MailboxState> {
    return this.turn(() => openMailbox(this.session, mailbox, this.session.serverPath(mailbox), true));
  }

  select(mailbox: string): Promise<MailboxState> {
    return this.turn(() => openMailbox(this.session, mailbox, this.session.serverPath(mailbox), false));
  }

  searchNewerThan(afterUid: number): Promise<number[]> {
    return this.turn(() => searchNewerThan(this.session, afterUid));
  }

  searchSince(since: Date): Promise<number[]> {
    return this.turn(() => searchSince(this.session, since));
  }

  findByMessageId(path: ServerPath, messageId: string): Promise<number[]> {
    return this.turn(() => findByMessageId(this.session, path, messageId));
  }

  existingUids(uids: number[]): Promise<number[]> {
    return this.turn(() => existingUids(this.session, uids));
  }

  fetchFlagChanges(modSeq: string): Promise<FlagChange[]> {
    return this.turn(() => fetchFlagChanges(this.session, modSeq));
  }

  fetchMeta(uids: number[], fields: MetaFields = {}): Promise<MessageMeta[]> {
    return this.turn(() => fetchMeta(this.session, uids, fields));
  }

  fetchSources(uids: number[], sizes: ReadonlyMap<number, number>, sink: SourceSink): Promise<void> {
    return this.turn(() => fetchSources(this.session, uids, sizes, sink));
  }

  /** Adds flags (`\Seen`, `$Label`): one `UID STORE +FLAGS.SILENT` per set. */
  addFlags(uids: number[], flags: string[]): Promise<void> {
    return this.turn(() => storeFlags(this.session, uids, '+FLAGS.SILENT', flags));
  }

  removeFlags(uids: number[], flags: string[]): Promise<void> {
    return this.turn(() => storeFlags(this.session, uids, '-FLAGS.SILENT', flags));
  }

  /** Gmail: adds labels (`UID STORE +X-GM-LABELS`), one command per set. */
  addLabels(uids: number[], labels: string[]): Promise<void> {
    return this.turn(() => storeLabels(this.session, uids, '+X-GM-LABELS', labels));
  }

  /** Gmail: removes labels (`UID STORE -X-GM-LABELS`). */
  removeLabels(uids: number[], labels: string[]): Promise<void> {
    return this.turn(() => storeLabels(this.session, uids, '-X-GM-LABELS', labels));
  }

  async copy(uids: number[], path: ServerPath): Promise<void> {
    await this.copyWithUids(uids, path);
  }

  /** `UID COPY`, with the UIDs the copies got when the server says (COPYUID, RFC 4315). */
  copyWithUids(uids: number[], path: ServerPath): Promise<CopyResult> {
    return this.turn(() => this.intoFolder(() => copyMessages(this.session, uids, path)));
  }

  move(uids: number[], path: ServerPath): Promise<RemovalOutcome & CopyResult> {
    return this.turn(() => this.intoFolder(() => moveMessages(this.session, uids, path)));
  }

  /** `\Deleted` + `UID EXPUNGE` of exactly these UIDs (method `expunge`); without UIDPLUS only `\Deleted`. */
  deleteMessages(uids: number[]): Promise<RemovalOutcome> {
    return this.turn(async () => {
      const removal = await removeMessages(this.session, uids, 'deleted');
      return { expunged: removal.expunged, method: removal.expunged ? 'expunge' : 'deleted' };
    });
  }

  resolveFolder(target: FolderRef, options: { create: boolean }): Promise<ServerPath | undefined> {
    return this.turn(() => resolveFolder(this.session, this.folders, target, options));
  }

  /** Creates the logical mailbox (and its parents) unless it exists; returns its server path. */
  ensureMailbox(name: string): Promise<{ path: ServerPath; created: boolean }> {
    return this.turn(() => ensureMailbox(this.session, this.folders, name));
  }

  logout(): Promise<void> {
    return this.session.logout();
  }

  /** A COPY or MOVE that failed may have found its target deleted since LIST: list again next time. */
  private async intoFolder<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      this.folders.forget();
      throw error;
    }
  }

  private turn<T>(fn: () => Promise<T>): Promise<T> {
    return this.session.exclusive(fn);
  }
}
