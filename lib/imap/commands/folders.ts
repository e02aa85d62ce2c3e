/**
 * Folder targets: a logical name mapped into the personal namespace, or the
 * folder LIST marks with a special-use attribute (RFC 6154), created where
 * asked. Names are mapped here once; everything after carries a `ServerPath`.
 *
 * What LIST answered is kept in a `FolderDirectory` for the session's life (a
 * session reused across batches keeps it too): one LIST per session, and no
 * CREATE for a folder it showed. Folders this session created are added to it.
 */
import type { FolderRef, ServerPath } from '../../ports.ts';
import type { ImapSession } from '../session.ts';

interface FolderEntry {
  path: ServerPath;
  specialUse?: string;
}

/** The session's folder list, read once; `forget()` makes the next lookup LIST again. */
export class FolderDirectory {
  #entries: FolderEntry[] | undefined;

  async entries(session: ImapSession): Promise<FolderEntry[]> {
    this.#entries ??= await listFolders(session);
    return this.#entries;
  }

  /** A folder now exists: created here, or answered ALREADYEXISTS. */
  add(path: ServerPath): void {
    if (this.#entries && !this.#entries.some((entry) => entry.path === path)) this.#entries.push({ path });
  }

  /** Whether a folder is known to exist without asking the server (only once LIST has been read). */
  knows(path: ServerPath): boolean {
    return this.#entries?.some((entry) => entry.path === path) === true;
  }

  /** Drops what LIST said (a command found a folder missing that it listed: someone deleted it). */
  forget(): void {
    this.#entries = undefined;
  }
}

/** The server path of a target, or undefined when there is no such folder (and none was to be created). */
export async function resolveFolder(
  session: ImapSession,
  directory: FolderDirectory,
  target: FolderRef,
  options: { create: boolean },
): Promise<ServerPath | undefined> {
  if ('specialUse' in target) {
    const use = target.specialUse.toLowerCase();
    return (await directory.entries(session)).find((entry) => entry.specialUse?.toLowerCase() === use)?.path;
  }
  const path = session.serverPath(target.path);
  if (path === 'INBOX') return path;
  if ((await directory.entries(session)).some((entry) => entry.path === path)) return path;
  if (!options.create) return undefined;
  await createFolder(session, target.path, path);
  directory.add(path);
  return path;
}

/** Creates the logical mailbox (and its parents) unless it exists. */
export async function ensureMailbox(
  session: ImapSession,
  directory: FolderDirectory,
  name: string,
): Promise<{ path: ServerPath; created: boolean }> {
  const path = session.serverPath(name);
  if (path === 'INBOX' || directory.knows(path)) return { path, created: false };
  // No LIST for one folder: CREATE answers whether it existed.
  const created = await createFolder(session, name, path);
  directory.add(path);
  return { path, created };
}

async function listFolders(session: ImapSession): Promise<FolderEntry[]> {
  const list = await session.run('LIST', () => session.client.list());
  return list.map((entry) => ({ path: entry.path as ServerPath, specialUse: entry.specialUse }));
}

async function createFolder(session: ImapSession, name: string, path: ServerPath): Promise<boolean> {
  const result = await session.run(`CREATE "${name}"`, () => session.client.mailboxCreate(path));
  return Boolean(result?.created);
}
