/**
 * The demo's drop folder: every `.eml` file put into it is handed to a
 * delivery function (the demo APPENDs it to INBOX) and then moved to `done/`
 * (or `failed/`, with a log line, when delivery failed, so a bad file is not
 * retried forever). `fs.watch` reacts at once where the platform supports it;
 * a periodic scan is the safety net (network and container file systems often
 * send no notifications).
 */
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../ports.ts';
import { silentLogger } from '../../ports.ts';

export interface DropFolderOptions {
  logger?: Logger;
  /** How often the folder is scanned even without a notification. @default 1000 */
  intervalMs?: number;
  /** A file modified more recently than this is assumed to be still being written. @default 300 */
  settleMs?: number;
  /** Told after each file was delivered, with where it was kept (`done/NAME`, or `done/NAME-1.eml` for a second of one name). */
  onDelivered?: (name: string, kept: string) => void;
}

/** A running drop-folder watch. */
export interface DropFolder {
  readonly dir: string;
  /** Scans now (also what the watcher and timer call); resolves when the scan is done. */
  scan(): Promise<void>;
  /** Stops watching; waits for a scan in progress. */
  close(): Promise<void>;
}

/** Watches `dir` (created if missing, with `done/` and `failed/`) for `.eml` files. */
export async function watchDropFolder(
  dir: string,
  deliver: (raw: Buffer, name: string) => Promise<void>,
  options: DropFolderOptions = {},
): Promise<DropFolder> {
  const logger = options.logger ?? silentLogger;
  const settleMs = options.settleMs ?? 300;
  const done = join(dir, 'done');
  const failed = join(dir, 'failed');
  await mkdir(done, { recursive: true });
  await mkdir(failed, { recursive: true });

  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;

  const scanOnce = async (): Promise<void> => {
    const names = (await readdir(dir)).filter((name) => name.toLowerCase().endsWith('.eml')).sort();
    for (const name of names) {
      if (closed) return;
      const file = join(dir, name);
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) continue;
      // A file still being copied in would be delivered truncated: wait until it settles.
      if (Date.now() - info.mtimeMs < settleMs) {
        again = true;
        continue;
      }
      try {
        await deliver(await readFile(file), name);
        const kept = await freeName(done, name);
        await rename(file, kept);
        options.onDelivered?.(name, kept);
      } catch (error) {
        logger.warn('could not deliver dropped file; moved to failed/', {
          file: name,
          error: describeError(error).message,
        });
        await rename(file, await freeName(failed, name)).catch(() => {});
      }
    }
  };

  const scan = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await scanOnce();
        } while (again && !closed && (await pause(settleMs)));
      } catch (error) {
        logger.warn('drop folder scan failed', {
          error: describeError(error).message,
        });
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, () => void scan());
    watcher.on('error', () => watcher?.close());
  } catch {
    // No notifications on this file system: the timer alone finds new files.
  }
  const timer = setInterval(() => void scan(), options.intervalMs ?? 1000);
  timer.unref();
  void scan();

  return {
    dir,
    scan,
    async close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
      await running;
    },
  };
}

/** `name`, or `name` with a counter when `dir` already has one (the same sample dropped twice). */
async function freeName(dir: string, name: string): Promise<string> {
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : name.replace(/(\.eml)?$/i, `-${n}$1`));
    if (!(await stat(candidate).catch(() => undefined))) return candidate;
  }
}

function pause(ms: number): Promise<true> {
  return new Promise((resolve) => setTimeout(() => resolve(true), ms));
}
