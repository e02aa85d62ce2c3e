/**
 * Who the private Dovecot runs as and where its binary is: the current user, or
 * as root an unprivileged system user created on first use (Dovecot refuses mail
 * access as uid 0).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { DovecotStartError } from './start-error.ts';

export interface RunAccount {
  /** Set when root: the name to `runuser` to and write into the config. */
  name: string;
  uid: number;
  gid: number;
  root: boolean;
}

export function findDovecot(): string {
  const candidates = [process.env.POSTROOM_DOVECOT, '/usr/sbin/dovecot', '/usr/local/sbin/dovecot'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  throw new DovecotStartError(
    'dovecot not found (install dovecot-imapd, or set POSTROOM_DOVECOT to its path)',
  );
}

export function runAccount(systemUser: string): RunAccount {
  const me = userInfo();
  if (me.uid !== 0) return { name: me.username, uid: me.uid, gid: me.gid, root: false };
  const lookup = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(
        execFileSync('id', ['-u', systemUser], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
      );
      const gid = Number(
        execFileSync('id', ['-g', systemUser], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
      );
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  let ids = lookup();
  if (!ids) {
    try {
      execFileSync(
        'useradd',
        [
          '--system',
          '--user-group',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          '/usr/sbin/nologin',
          systemUser,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    } catch (error) {
      // Another process may have created it meanwhile (useradd exits 9): look again.
      ids = lookup();
      if (!ids) throw new DovecotStartError(`cannot create system user ${systemUser}: ${String(error)}`);
    }
    ids ??= lookup();
  }
  if (!ids) throw new DovecotStartError(`system user ${systemUser} not found after useradd`);
  return { name: systemUser, ...ids, root: true };
}

export function chownTree(path: string, account: RunAccount): void {
  if (!account.root) return;
  execFileSync('chown', ['-R', `${account.uid}:${account.gid}`, path]);
}

export function groupName(account: RunAccount): string {
  if (!account.root) {
    try {
      return execFileSync('id', ['-gn'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    } catch {
      return String(account.gid);
    }
  }
  return account.name;
}
