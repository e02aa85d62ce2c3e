/**
 * The AWS `BlobStore`: one S3 object per blob in one bucket.
 *
 * Byte bodies (most messages: the IMAP adapter hands small ones over whole)
 * go up in one PutObject, the fastest path for small objects. Streams go
 * through lib-storage's `Upload`, which sends a multipart upload in fixed-size
 * parts, so memory stays at about `partSize × (queueSize + 1)` however large
 * the message, and which aborts the upload on failure so no parts are left
 * behind. A PUT in S3 replaces the object atomically, so a retried put is
 * harmless.
 */
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobNotFoundError } from '../../errors.ts';
import type { BlobLocation, BlobStore, PutBlobOptions } from '../../ports.ts';
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
   * the next fills from IMAP, which is usually the slower side anyway; a
   * second part in flight added ~30 MB to a poller's peak on a 50 MB message
   * (bench:ingest, AWS emulators). @default 1
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

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.client = options.client ?? new S3Client(s3ClientConfig());
    this.partSize = Math.max(options.partSize ?? 5 * MiB, 5 * MiB);
    this.queueSize = Math.max(options.queueSize ?? 1, 1);
  }

  async put(key: string, body: Readable | Uint8Array, options: PutBlobOptions = {}): Promise<BlobLocation> {
    const contentType = options.contentType ?? (key.endsWith('.eml') ? 'message/rfc822' : undefined);
    if (body instanceof Uint8Array) {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: contentType,
        }),
      );
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

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }
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
