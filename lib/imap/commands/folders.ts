/**
 * Folder targets: a logical name mapped into the personal namespace, or the
 * folder LIST marks with a special-use attribute (RFC 6154), created where
 * asked. Names are mapped here once; everything after carries a `ServerPath`.
 */
import type { FolderRef, ServerPath } from '../../ports.ts';
import type { ImapSession } from '../session.ts';

/** The server path of a target, or undefined when there is no such folder (and none was to be created). */
export async function resolveFolder(
  session: ImapSession,
  target: FolderRef,
  options: { create: boolean },
): Promise<ServerPath | undefined> {
  if ('specialUse' in target) {
    const use = target.specialUse.toLowerCase();
    return (await listFolders(session)).find((entry) => entry.specialUse?.toLowerCase() === use)?.path;
  }
  const path = session.serverPath(target.path);
  if (path === 'INBOX') return path;
  if (options.create) {
    await createFolder(session, target.path, path);
    return path;
  }
  return (await listFolders(session)).some((entry) => entry.path === path) ? path : undefined;
}

/** Creates the logical mailbox (and its parents) unless it exists. */
export async function ensureMailbox(
  session: ImapSession,
  name: string,
): Promise<{ path: ServerPath; created: boolean }> {
  const path = session.serverPath(name);
  if (path === 'INBOX') return { path, created: false };
  return { path, created: await createFolder(session, name, path) };
}

async function listFolders(session: ImapSession): Promise<{ path: ServerPath; specialUse?: string }[]> {
  const list = await session.run('LIST', () => session.client.list());
  return list.map((entry) => ({ path: entry.path as ServerPath, specialUse: entry.specialUse }));
}

async function createFolder(session: ImapSession, name: string, path: ServerPath): Promise<boolean> {
  const result = await session.run(`CREATE "${name}"`, () => session.client.mailboxCreate(path));
  return Boolean(result?.created);
}
