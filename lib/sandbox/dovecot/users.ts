/**
 * The users of a private Dovecot: one passwd-file per user, shared by every
 * variant, writable from any process that has the instance's `DovecotInfo`.
 */
import { chownSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DovecotInfo } from './private-dovecot.ts';

/**
 * Adds a user to a running instance from any process that has its `DovecotInfo`
 * (e.g. a vitest worker). The user can log in immediately, on every variant.
 */
export function addDovecotUser(
  info: Pick<DovecotInfo, 'usersDir' | 'mailRoot' | 'uid' | 'gid'>,
  user: string,
  password: string,
): void {
  // passwd-file is colon-separated, one user per line; the name is also a file name.
  if (!/^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*$/.test(user))
    throw new Error(`invalid Dovecot test user name: ${JSON.stringify(user)}`);
  if (/[:\r\n\0]/.test(password) || password.length === 0)
    throw new Error(`invalid password for Dovecot test user ${user}`);
  const home = join(info.mailRoot, user);
  const file = join(info.usersDir, user);
  const temporary = `${file}.${process.pid}.tmp`;
  // Written whole and renamed, so Dovecot never reads half a line.
  writeFileSync(temporary, `${user}:{PLAIN}${password}:${info.uid}:${info.gid}::${home}::\n`, {
    mode: 0o600,
  });
  if (process.getuid?.() === 0) chownSync(temporary, info.uid, info.gid);
  renameSync(temporary, file);
}
