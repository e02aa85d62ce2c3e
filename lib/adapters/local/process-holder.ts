/**
 * Who holds a local lease, a received queue message or a temp file: a process
 * on a host. A holder on this host whose pid no longer exists is gone, and what
 * it held can be taken over at once instead of after its timeout.
 */
import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** A process, as stored beside what it holds. */
export interface ProcessHolder {
  pid: number;
  /** This host, as {@link thisHost} names it. */
  host: string;
}

let host: string | undefined;

/**
 * This host's name plus its pid namespace where there is one: containers that
 * share a host name (`--network host`) and a store folder do not share pids,
 * so a pid is only meaningful inside its namespace.
 */
export function thisHost(): string {
  if (host === undefined) {
    let namespace = '';
    try {
      namespace = ` ${readlinkSync('/proc/self/ns/pid')}`;
    } catch {
      // No /proc (macOS, Windows): the host name alone.
    }
    host = `${hostname()}${namespace}`;
  }
  return host;
}

/** This process as a holder. */
export function thisProcess(): ProcessHolder {
  return { pid: process.pid, host: thisHost() };
}

/** A short tag for this host (8 hex digits), for names that must stay short, such as temp files. */
export function thisHostTag(): string {
  return createHash('sha256').update(thisHost()).digest('hex').slice(0, 8);
}

/**
 * True only when the holder is certainly gone: on this host (by name, or by
 * {@link thisHostTag}) and `kill(pid, 0)` answers ESRCH. A holder elsewhere, or
 * one whose pid exists (even as another user's process, EPERM), is alive.
 */
export function isHolderGone(holder: { pid?: number | null; host?: string | null }): boolean {
  const { pid } = holder;
  if (pid === undefined || pid === null || !Number.isSafeInteger(pid) || pid <= 0) return false;
  if (holder.host !== thisHost() && holder.host !== thisHostTag()) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
