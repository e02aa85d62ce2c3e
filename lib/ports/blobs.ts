/**
 * Object storage for raw messages and exported attachments, and the held
 * bytes they are written from.
 */
import type { Readable } from 'node:stream';
import type { BlobLocation } from './queue.ts';

/**
 * Bytes held in memory: one buffer, or the pieces the bytes arrived in, in
 * order. The IMAP adapter hands a message that spans several socket reads on
 * as those reads' slices rather than copying them into one new buffer: that
 * copy was half of everything a poller allocated (helpers in `held-bytes.ts`).
 */
export type HeldBytes = Uint8Array | readonly Uint8Array[];

export interface PutBlobOptions {
  /** Known length in bytes; lets adapters choose single-part vs multipart. */
  contentLength?: number;
  contentType?: string;
}

/** Object storage for raw messages and exported attachments. Puts are idempotent by key. */
export interface BlobStore {
  /** Stores `body` under `key`, replacing what was there. Resolves once the bytes are durable. */
  put(key: string, body: Readable | HeldBytes, options?: PutBlobOptions): Promise<BlobLocation>;
  /** Streams the blob back; rejects with `BlobNotFoundError` when there is none. */
  get(key: string): Promise<Readable>;
  /**
   * A stored message's header block: its bytes up to and including the blank
   * line that ends the header, read no further than that (and at most
   * `maxBytes`: a longer header comes back cut there; a message without a
   * body, whole). Rejects with `BlobNotFoundError` when there is none.
   * Optional: without it callers read `get` until the blank line.
   */
  getHead?(key: string, maxBytes: number): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  /**
   * The blobs whose keys start with `prefix`, in no promised order (`postroom
   * replay` finds a mailbox's stored mail this way). Optional: a store that
   * cannot list leaves replay unavailable.
   */
  list?(prefix: string): AsyncIterable<BlobEntry>;
  /**
   * Makes every blob put so far durable, where puts alone do not (the local
   * folder defers its fsyncs to one flush per batch). Called before the queue
   * learns of the blobs.
   */
  flush?(): Promise<void>;
}

/** One stored blob, as {@link BlobStore.list} names it. */
export interface BlobEntry {
  key: string;
  size: number;
  /** When it was last written. */
  modifiedAt: Date;
}
