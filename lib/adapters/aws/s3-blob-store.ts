/**
 * The AWS `BlobStore`: one S3 object per blob in one bucket.
 *
 * Bodies held in memory (most messages: the IMAP adapter hands small ones over
 * whole) go up in one PutObject, the fastest path for small objects.
 *
 * A body held as several pieces goes up in one PutObject too, streamed piece
 * by piece with its length declared, so it is never joined into one more copy.
 * - Its CRC32 is computed here over the pieces and sent as a header, as the
 *   SDK does for a single buffer; left to the SDK, a stream would be sent
 *   aws-chunked with a trailing checksum instead. The payload is signed as
 *   UNSIGNED-PAYLOAD (the SDK does not hash streams); the CRC32 is what S3
 *   verifies.
 * - The SDK never retries a request whose body is a stream (it cannot send it
 *   again), so the pieces travel through its retry step as a plain object and
 *   become a fresh stream at each attempt: a 503 SlowDown is retried as it is
 *   for a single buffer.
 *
 * Streams go through lib-storage's `Upload`, which sends a multipart upload in
 * fixed-size parts, so memory stays at about `partSize × (queueSize + 1)`
 * however large the message, and which aborts the upload on failure so no
 * parts are left behind. A PUT in S3 replaces the object atomically, so a
 * retried put is harmless.
 */
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type PutObjectCommandInput,
  type PutObjectCommandOutput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { DeserializeMiddleware } from '@smithy/types';
import { BlobNotFoundError } from '../../errors.ts';
import { heldLength, heldPieces, isHeldBytes } from '../../held-bytes.ts';
import { headerEnd } from '../../mime/header-end.ts';
import type { BlobEntry, BlobLocation, BlobStore, HeldBytes, PutBlobOptions } from '../../ports.ts';
import { s3ClientConfig } from './clients.ts';

const MiB = 1024 * 1024;

export interface S3BlobStoreOptions {
  /** The bucket name (`POSTROOM_BUCKET` in Lambda). */
  bucket: string;
  /**
   * A ready client.
   * @default a new `S3Client(s3ClientConfig())`: region from `AWS_REGION`, endpoint from `AWS_ENDPOINT_URL_S3`
   */
  client?: S3Client;
  /**
   * Multipart part size for streamed bodies (S3's minimum is 5 MiB). Small,
   * because a poller's memory is what limits it. @default 5 MiB
   */
  partSize?: number;
  /**
   * Parts uploaded at once for one streamed body. One: while a part uploads,
   * the next fills from IMAP, which is usually the slower side anyway; each
   * further part in flight is another part's worth of a poller's peak memory
   * for no gain. @default 1
   */
  queueSize?: number;
}

/**
 * Stores blobs as objects in one S3 bucket.
 *
 * @example
 * const blobs = new S3BlobStore({ bucket: process.env.POSTROOM_BUCKET! });
 */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  /** Whether the SDK sends checksums when it may (read once: the setting does not change). */
  private checksums?: Promise<boolean>;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.client = options.client ?? new S3Client(s3ClientConfig());
    this.partSize = Math.max(options.partSize ?? 5 * MiB, 5 * MiB);
    this.queueSize = Math.max(options.queueSize ?? 1, 1);
  }

  async put(key: string, body: Readable | HeldBytes, options: PutBlobOptions = {}): Promise<BlobLocation> {
    const contentType = options.contentType ?? (key.endsWith('.eml') ? 'message/rfc822' : undefined);
    if (isHeldBytes(body)) {
      const pieces = heldPieces(body);
      const whole = pieces.length === 0 ? new Uint8Array(0) : pieces.length === 1 ? pieces[0] : undefined;
      const checksum =
        whole === undefined && (await this.checksumsWhenSupported()) ? crc32Of(pieces) : undefined;
      const command = new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: whole ?? (new HeldPieces(pieces) as unknown as Readable),
        ContentLength: heldLength(pieces),
        ContentType: contentType,
        ...(checksum ? { ChecksumCRC32: checksum } : {}),
      });
      if (whole === undefined) command.middlewareStack.add(streamPiecesPerAttempt, STREAM_PIECES_PER_ATTEMPT);
      await this.client.send(command);
    } else {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: body, ContentType: contentType },
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        // An unread IMAP stream would stall its connection: end it, as pipeline() would.
        body.destroy();
        throw error;
      }
    }
    return { bucket: this.bucket, key };
  }

  /** The SDK's `requestChecksumCalculation` (`AWS_REQUEST_CHECKSUM_CALCULATION`): WHEN_SUPPORTED unless set. */
  private checksumsWhenSupported(): Promise<boolean> {
    this.checksums ??= (async () => {
      const setting = this.client.config.requestChecksumCalculation;
      return (typeof setting === 'function' ? await setting() : setting) !== 'WHEN_REQUIRED';
    })();
    return this.checksums;
  }

  async get(key: string): Promise<Readable> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!Body) throw new BlobNotFoundError(key);
      // In Node.js the SDK's body is an http.IncomingMessage: a Readable.
      return Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key, { cause: error });
      throw error;
    }
  }

  /**
   * Ranged GETs: the first 16 KiB (most header blocks), then each time four
   * times as far, until the blank line, the object's end or `maxBytes`.
   */
  async getHead(key: string, maxBytes: number): Promise<Uint8Array> {
    let bytes = new Uint8Array(0);
    let want = Math.min(maxBytes, HEAD_READ_BYTES);
    for (;;) {
      const from = bytes.length;
      let part: Uint8Array;
      let total: number | undefined;
      try {
        const response = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${from}-${want - 1}` }),
        );
        part = (await response.Body?.transformToByteArray()) ?? new Uint8Array(0);
        total = objectLength(response.ContentRange);
      } catch (error) {
        if (isNotFound(error)) throw new BlobNotFoundError(key, { cause: error });
        // A range starting at the end: an empty object, or one that ended exactly where the last read did.
        if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 416) return bytes;
        throw error;
      }
      const joined = new Uint8Array(from + part.length);
      joined.set(bytes);
      joined.set(part, from);
      bytes = joined;
      // From 2 bytes back: a blank line split between two reads is found too.
      const searchFrom = Math.max(0, from - 2);
      const end = headerEnd(bytes.subarray(searchFrom));
      if (end >= 0) return bytes.subarray(0, searchFrom + end);
      // Fewer bytes than asked for, or all of them: the object ended.
      const ended = part.length < want - from || (total !== undefined && bytes.length >= total);
      if (ended || bytes.length >= maxBytes) return bytes;
      want = Math.min(maxBytes, want * 4);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** ListObjectsV2 under `prefix`, page by page (1,000 keys each). */
  async *list(prefix: string): AsyncIterable<BlobEntry> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

/** The first ranged read of a header block: most fit in it. */
const HEAD_READ_BYTES = 16 * 1024;

/** The object's whole length from a `Content-Range: bytes 0-99/1234` answer. */
function objectLength(range: string | undefined): number | undefined {
  const total = range?.split('/')[1];
  return total === undefined || total === '*' ? undefined : Number(total);
}

/**
 * A PutObject body held as pieces. Not a stream, so the SDK's retry logic
 * will send it again after a retryable failure, and not bytes, so the signer
 * leaves the payload unsigned rather than hashing it.
 */
class HeldPieces {
  constructor(readonly pieces: readonly Uint8Array[]) {}
}

/**
 * Below the retry and signing steps, just above the HTTP handler: gives each
 * attempt a fresh stream of the pieces (in a copy of the request, so the retry
 * logic still sees the pieces and not a stream it must not retry).
 */
const streamPiecesPerAttempt: DeserializeMiddleware<PutObjectCommandInput, PutObjectCommandOutput> =
  (next) => async (args) => {
    const request = args.request as { body?: unknown };
    if (!(request.body instanceof HeldPieces)) return next(args);
    // objectMode off: a stream of bytes, which the HTTP handler writes to the request as they come.
    const body = Readable.from(request.body.pieces, { objectMode: false });
    return next({ ...args, request: { ...request, body } });
  };

const STREAM_PIECES_PER_ATTEMPT = {
  step: 'deserialize',
  priority: 'low',
  name: 'postroomStreamPiecesPerAttempt',
} as const;

/** CRC32 of the pieces in sequence, base64 of its 4 big-endian bytes (S3's `x-amz-checksum-crc32`). */
function crc32Of(pieces: readonly Uint8Array[]): string {
  let crc = 0;
  for (const piece of pieces) crc = crc32(piece, crc);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc >>> 0);
  return bytes.toString('base64');
}

function isNotFound(error: unknown): boolean {
  // HEAD responses carry no body, so a missing key arrives as a bare 404 (`NotFound`), not `NoSuchKey`.
  if (error instanceof NoSuchKey || error instanceof NotFound) return true;
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NoSuchKey' || error.name === 'NotFound') &&
    error.$metadata.httpStatusCode === 404
  );
}
