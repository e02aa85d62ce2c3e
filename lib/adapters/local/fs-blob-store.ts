/**
 * The local `BlobStore`: one file per blob at `<dir>/<key>`.
 *
 * A put writes a temp file in `<dir>/.tmp`, flushes it to disk, renames it
 * over the target and flushes the folder, so a crash at any point leaves either
 * the old blob or the new one, never half a file, and a retried put is
 * harmless (rename(2) replaces atomically on POSIX file systems).
 *
 * Temp files are named after their writer (pid and host tag), all in that one
 * folder: {@link FsBlobStore.removeStaleTemporaryFiles} removes those of a
 * writer that is gone (killed mid-put) by reading one small folder, not the tree.
 *
 * This is on the ingest hot path (thousands of small messages per second), so
 * folders already created are remembered instead of calling mkdir per put, and
 * concurrent puts into one folder share one folder fsync.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { BlobNotFoundError, PostroomError } from '../../errors.ts';
import { heldPieces, isHeldBytes } from '../../held-bytes.ts';
import { headerEnd } from '../../mime/header-end.ts';
import type { BlobEntry, BlobLocation, BlobStore, HeldBytes, PutBlobOptions } from '../../ports.ts';
import { forEachLimited } from '../../work-pool.ts';
import { isHolderGone, thisHostTag } from './process-holder.ts';

/** A blob key that could escape the store's folder or name no file (`..`, a leading `/`, empty segments). */
export class InvalidBlobKeyError extends PostroomError {
  constructor(key: string, reason: string) {
    super('BLOB_KEY_INVALID', `invalid blob key ${JSON.stringify(key)}: ${reason}`, { context: { key } });
    this.name = 'InvalidBlobKeyError';
  }
}

export interface FsBlobStoreOptions {
  /**
   * Flush every blob (and the folder entry naming it) to disk before `put`
   * resolves. Off trades crash safety for speed: a power loss may then lose
   * blobs whose queue messages and checkpoint were already written.
   * @default true
   */
  durable?: boolean;
  /**
   * With `durable`, leave the flushing to `flush()`: `put` resolves once the
   * blob is in place (atomically, never half written) and `flush()` makes every
   * blob put since the last call durable at once. One flush per batch, before
   * the batch is queued, is many times faster than a flush per blob, because
   * the file system commits the concurrent fsyncs together. Until then a crash
   * may lose or empty those blobs; that is safe as long as nothing points at
   * them yet (the poller re-puts them, since its checkpoint did not move).
   * @default false
   */
  deferSync?: boolean;
}

interface DirSync {
  running?: Promise<void>;
  /** A flush that starts once `running` ends: callers arriving now can share it. */
  waiting?: Promise<void>;
}

const noop = (): void => {};

/** The folder under the store's `dir` holding temp files; no key may start with it. */
const TEMP_FOLDER = '.tmp';
/** `<pid base 36>-<host tag>-<random>-<counter>.tmp`, as {@link FsBlobStore} names its temp files. */
const TEMP_NAME = /^([0-9a-z]+)-([0-9a-f]{8})-[0-9a-f]{8}-[0-9a-z]+\.tmp$/;
/** A temp file older than this is left over whoever wrote it: no put takes a day. */
const STALE_TEMP_MS = 24 * 60 * 60_000;

/** fsyncs in flight during `flush()`. */
const FLUSH_CONCURRENCY = 32;

/**
 * Stores blobs as files under one folder.
 *
 * @example
 * const blobs = new FsBlobStore('.postroom/blobs');
 * await blobs.put('raw/acme/INBOX/1700000000/42.eml', bytes);
 */
export class FsBlobStore implements BlobStore {
  readonly dir: string;
  private readonly durable: boolean;
  private readonly deferSync: boolean;
  /** Blobs (and their folders) put since the last `flush()` with `deferSync`. */
  private unsyncedFiles = new Set<string>();
  private unsyncedDirs = new Set<string>();
  /** Folders created (or being created) by this store; the promise settles once they are durable. */
  private readonly createdDirs = new Map<string, Promise<void>>();
  private readonly dirSyncs = new Map<string, DirSync>();
  /**
   * Temp names must not collide across processes sharing the folder, nor across
   * concurrent puts. Made on the first put: an empty poll puts nothing.
   */
  private tempPrefix?: string;
  private readonly tempDir: string;
  private tempCounter = 0;

  constructor(dir: string, options: FsBlobStoreOptions = {}) {
    this.dir = resolve(dir);
    this.tempDir = join(this.dir, TEMP_FOLDER);
    this.durable = options.durable ?? true;
    this.deferSync = this.durable && (options.deferSync ?? false);
  }

  async put(key: string, body: Readable | HeldBytes, _options?: PutBlobOptions): Promise<BlobLocation> {
    try {
      return await this.write(key, body);
    } catch (error) {
      // An unread IMAP stream would stall its connection: end it, as pipeline() would.
      if (!isHeldBytes(body)) body.destroy();
      throw error;
    }
  }

  private async write(key: string, body: Readable | HeldBytes): Promise<BlobLocation> {
    const path = this.pathOf(key);
    const folder = dirname(path);
    this.tempPrefix ??= `${process.pid.toString(36)}-${thisHostTag()}-${randomBytes(4).toString('hex')}`;
    const temp = join(this.tempDir, `${this.tempPrefix}-${(this.tempCounter++).toString(36)}.tmp`);
    await this.ensureDir(folder);
    const handle = await this.openForWrite(temp);
    try {
      try {
        if (isHeldBytes(body)) {
          // Pieces are written as they are, one after another: no joined copy.
          await writeFile(handle, heldPieces(body));
        } else {
          // Chunk by chunk, each written before the next is read: a large message
          // is never held in memory whole. Leaving the loop early destroys `body`.
          for await (const chunk of body) await handle.write(toBytes(chunk));
        }
        if (this.durable && !this.deferSync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await this.renameInto(temp, path, folder);
    } catch (error) {
      await unlink(temp).catch(noop);
      throw error;
    }
    if (this.deferSync) {
      this.unsyncedFiles.add(path);
      this.unsyncedDirs.add(folder);
    } else if (this.durable) {
      // The rename is only durable once the folder's entry is on disk too.
      await this.syncDir(folder);
    }
    return { key };
  }

  /**
   * Makes every blob put since the last call durable (with `deferSync`; a no-op
   * otherwise). Call it before queueing messages that point at those blobs.
   */
  async flush(): Promise<void> {
    if (this.unsyncedFiles.size === 0 && this.unsyncedDirs.size === 0) return;
    const files = [...this.unsyncedFiles];
    const dirs = [...this.unsyncedDirs];
    this.unsyncedFiles = new Set();
    this.unsyncedDirs = new Set();
    try {
      // One syncfs(2) commits the whole file system in one journal flush: for a
      // batch of hundreds of small blobs it costs about what one fsync does.
      // Linux only (coreutils `sync --file-system`); elsewhere, or if it fails,
      // each file and folder is fsynced.
      if (files.length >= SYNCFS_MIN_FILES && (await syncFileSystem(this.dir))) return;
      // Many fsyncs in flight let the file system commit them together (ext4's journal does).
      await forEachLimited(files, FLUSH_CONCURRENCY, (file) => fsyncPath(file, true));
      await forEachLimited(dirs, FLUSH_CONCURRENCY, (dir) => this.syncDir(dir));
    } catch (error) {
      for (const file of files) this.unsyncedFiles.add(file);
      for (const dir of dirs) this.unsyncedDirs.add(dir);
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    return (await this.openBlob(key)).createReadStream();
  }

  /** Opens the blob's file for reading; rejects with `BlobNotFoundError` when there is none. */
  private async openBlob(key: string): Promise<FileHandle> {
    const path = this.pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(key, { cause: error });
      throw error;
    }
    try {
      // A key naming a folder (a prefix of other keys) is not a blob.
      if (!(await handle.stat()).isFile()) throw new BlobNotFoundError(key);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle;
  }

  async getHead(key: string, maxBytes: number): Promise<Uint8Array> {
    const handle = await this.openBlob(key);
    try {
      // Most header blocks fit the first read; a longer one is read on, never past maxBytes.
      let bytes = new Uint8Array(Math.min(maxBytes, HEAD_READ_BYTES));
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(bytes, length, bytes.length - length, length);
        // Searching from 2 bytes back finds a blank line split between two reads.
        const end = headerEnd(bytes.subarray(Math.max(0, length - 2), length + bytesRead));
        if (end >= 0) return bytes.subarray(0, Math.max(0, length - 2) + end);
        length += bytesRead;
        if (bytesRead === 0 || length >= maxBytes) return bytes.subarray(0, length);
        if (length === bytes.length) {
          const grown = new Uint8Array(Math.min(maxBytes, bytes.length * 4));
          grown.set(bytes);
          bytes = grown;
        }
      }
    } finally {
      await handle.close();
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /** The blobs under `prefix` (a folder prefix such as `raw/<account>/<mailbox>/` lists that tree). */
  async *list(prefix: string): AsyncIterable<BlobEntry> {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const root = folder === '' ? this.dir : this.pathOf(folder);
    let entries: { name: string; parentPath: string; isFile(): boolean }[];
    try {
      entries = await readdir(root, { recursive: true, withFileTypes: true });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      const key = path
        .slice(this.dir.length + 1)
        .split(sep)
        .join('/');
      if (!key.startsWith(prefix) || key.startsWith(`${TEMP_FOLDER}/`)) continue;
      try {
        const info = await stat(path);
        yield { key, size: info.size, modifiedAt: info.mtime };
      } catch (error) {
        // Removed since the folder was read.
        if (!isMissing(error)) throw error;
      }
    }
  }

  /** Maps a key to its file, refusing keys that would leave `dir` or name no file. */
  private pathOf(key: string): string {
    if (key.length === 0) throw new InvalidBlobKeyError(key, 'empty');
    if (key.startsWith('/')) throw new InvalidBlobKeyError(key, 'leading /');
    // A backslash is a separator on Windows and NUL ends a C path: neither belongs in a key.
    if (key.includes('\\') || key.includes('\0')) throw new InvalidBlobKeyError(key, 'backslash or NUL');
    if (key === TEMP_FOLDER || key.startsWith(`${TEMP_FOLDER}/`)) {
      throw new InvalidBlobKeyError(key, `"${TEMP_FOLDER}" holds temp files`);
    }
    for (const segment of key.split('/')) {
      if (segment === '') throw new InvalidBlobKeyError(key, 'empty segment');
      if (segment === '.' || segment === '..') throw new InvalidBlobKeyError(key, `"${segment}" segment`);
    }
    const path = join(this.dir, key);
    if (!path.startsWith(this.dir + sep)) throw new InvalidBlobKeyError(key, 'outside the store');
    return path;
  }

  /**
   * Removes temp files whose writer is gone: a process on this host that no
   * longer exists (killed mid-put), or any writer once the file is a day old.
   * Never a file a live writer may still be writing. Returns how many went.
   */
  async removeStaleTemporaryFiles(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tempDir);
    } catch (error) {
      if (isMissing(error)) return 0;
      throw error;
    }
    let removed = 0;
    for (const name of names) {
      const match = TEMP_NAME.exec(name);
      // This store's own files are never stale: its pid lives and they are young.
      if (!match) continue;
      const path = join(this.tempDir, name);
      const writerGone = isHolderGone({ pid: Number.parseInt(match[1]!, 36), host: match[2]! });
      try {
        if (!writerGone && Date.now() - (await stat(path)).mtimeMs < STALE_TEMP_MS) continue;
        await unlink(path);
        removed += 1;
      } catch (error) {
        // Renamed into place or removed by someone else meanwhile: nothing left to do.
        if (!isMissing(error)) throw error;
      }
    }
    return removed;
  }

  private async openForWrite(temp: string): Promise<FileHandle> {
    await this.ensureDir(this.tempDir);
    try {
      return await open(temp, 'w');
    } catch (error) {
      // The folder was removed behind our back (a cleanup, a test): forget it and create it again.
      if (!isMissing(error)) throw error;
      this.createdDirs.delete(this.tempDir);
      await this.ensureDir(this.tempDir);
      return await open(temp, 'w');
    }
  }

  private async renameInto(temp: string, path: string, folder: string): Promise<void> {
    try {
      await rename(temp, path);
    } catch (error) {
      // The target folder was removed behind our back: create it again.
      if (!isMissing(error)) throw error;
      this.createdDirs.delete(folder);
      await this.ensureDir(folder);
      await rename(temp, path);
    }
  }

  /** Creates `folder` once; concurrent puts into a new folder all wait for the same creation. */
  private ensureDir(folder: string): Promise<void> {
    let created = this.createdDirs.get(folder);
    if (!created) {
      created = this.createDir(folder);
      this.createdDirs.set(folder, created);
      created.catch(() => this.createdDirs.delete(folder));
    }
    return created;
  }

  private async createDir(folder: string): Promise<void> {
    const first = await mkdir(folder, { recursive: true });
    if (first !== undefined && this.durable) {
      // New folders are entries in their parents: flush each parent from the
      // topmost new folder down, or a crash could lose the whole subtree.
      const parents: string[] = [];
      for (let dir = folder; dir.length >= first.length; dir = dirname(dir)) parents.push(dirname(dir));
      for (const parent of parents.reverse()) await this.syncDir(parent);
    }
  }

  /**
   * fsyncs `folder`, sharing the work between concurrent callers: a caller may
   * join a flush that has not started yet (it covers every rename done before
   * it starts), never one already running.
   */
  private syncDir(folder: string): Promise<void> {
    let state = this.dirSyncs.get(folder);
    if (!state) {
      state = {};
      this.dirSyncs.set(folder, state);
    }
    if (state.waiting) return state.waiting;
    const running = state.running;
    if (!running) return this.startDirSync(folder, state);
    const current = state;
    current.waiting = running.then(noop, noop).then(() => {
      current.waiting = undefined;
      return this.startDirSync(folder, current);
    });
    return current.waiting;
  }

  private startDirSync(folder: string, state: DirSync): Promise<void> {
    const running = fsyncPath(folder).finally(() => {
      if (state.running === running) state.running = undefined;
      if (!state.running && !state.waiting) this.dirSyncs.delete(folder);
    });
    state.running = running;
    return running;
  }
}

const execFileAsync = promisify(execFile);

/** The first read of a header block: most fit in it. */
const HEAD_READ_BYTES = 16 * 1024;

/** Below this many files a flush fsyncs them one by one (cheaper than a process spawn). */
const SYNCFS_MIN_FILES = 8;
let syncfsUnavailable = process.platform !== 'linux';

/** syncfs(2) on the file system holding `dir`, via coreutils; false when not possible here. */
async function syncFileSystem(dir: string): Promise<boolean> {
  if (syncfsUnavailable) return false;
  try {
    await execFileAsync('sync', ['--file-system', dir]);
    return true;
  } catch {
    syncfsUnavailable = true;
    return false;
  }
}

/** fsyncs a file or folder by path (Linux allows fsync on a read-only descriptor). */
async function fsyncPath(path: string, dataOnly = false): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    // Replaced or removed since: nothing of ours left to flush.
    if (dataOnly && isMissing(error)) return;
    throw error;
  }
  try {
    await (dataOnly ? handle.datasync() : handle.sync());
  } finally {
    await handle.close();
  }
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  // A stream in string mode (setEncoding) yields strings; blobs are bytes.
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError('blob streams must yield bytes');
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
