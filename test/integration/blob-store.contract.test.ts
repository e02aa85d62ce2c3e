/**
 * One contract suite for the BlobStore port, run over the folder store and the
 * S3 store against s3rver. The S3 store is built the way the Lambda builds it:
 * no client passed, the endpoint from `AWS_ENDPOINT_URL_S3`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { s3ClientConfig } from '#lib/adapters/aws/clients.ts';
import { S3BlobStore } from '#lib/adapters/aws/s3-blob-store.ts';
import { FsBlobStore, InvalidBlobKeyError } from '#lib/adapters/local/fs-blob-store.ts';
import { thisHostTag } from '#lib/adapters/local/process-holder.ts';
import { BlobNotFoundError } from '#lib/errors.ts';
import type { BlobStore } from '#lib/ports.ts';
import { createBucket, type Emulator, startS3Emulator, useEmulatorEnv } from '../helpers/emulators.ts';
import { deadProcess, killLiving, livingProcess } from '../helpers/processes.ts';

const MiB = 1024 * 1024;

/** A message whose 1 KB header sits on a 5 MB body: what a head read must not read. */
function bigBodyMessage(): { header: string; raw: Uint8Array } {
  const header = `From: a@b.example\r\nSubject: big\r\n${'X-Pad: p\r\n'.repeat(90)}\r\n`;
  return { header, raw: new Uint8Array(Buffer.from(header + 'b'.repeat(5 * MiB))) };
}

interface Subject {
  name: string;
  open(): Promise<{ store: BlobStore; bucket?: string; close(): Promise<void> }>;
}

/** The S3 emulator: the shared one from the global setup, or one of our own. */
async function s3Endpoint(): Promise<{ endpoint: string; own?: Emulator }> {
  const shared = (inject('servers') as { emulators?: { s3?: string } } | undefined)?.emulators?.s3;
  if (shared) return { endpoint: shared };
  const own = await startS3Emulator();
  return { endpoint: own.endpoint, own };
}

const subjects: Subject[] = [
  {
    name: 'FsBlobStore',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'postroom-blobs-'));
      return {
        store: new FsBlobStore(dir),
        close: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'S3BlobStore (s3rver)',
    async open() {
      const { endpoint, own } = await s3Endpoint();
      const bucket = `postroom-${randomUUID()}`;
      await createBucket(endpoint, bucket);
      const restore = useEmulatorEnv({ s3: endpoint });
      return {
        store: new S3BlobStore({ bucket }),
        bucket,
        async close() {
          restore();
          await own?.stop();
        },
      };
    },
  },
];

/**
 * A full garbage collection, so `arrayBuffers` counts live buffers only (a
 * generational GC may otherwise leave tens of MiB of spent chunks around).
 * `--expose-gc` set at run time makes `gc` available to new contexts.
 */
const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function key(uid: number): string {
  return `raw/acme/INBOX/1700000000/${uid}.eml`;
}

/** Deterministic pseudo-random chunks, made on demand: the whole body never exists at once. */
function* pseudoRandomChunks(totalBytes: number, chunkBytes: number): Generator<Buffer> {
  let state = 0x9e3779b9;
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
    const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, totalBytes - sent));
    for (let i = 0; i + 4 <= chunk.length; i += 4) {
      // xorshift32
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      chunk.writeUInt32LE(state >>> 0, i);
    }
    yield chunk;
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function sha256Of(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

describe.each(subjects)('BlobStore contract: $name', (subject) => {
  let store: BlobStore;
  let bucket: string | undefined;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ store, bucket, close } = await subject.open());
  });

  afterAll(async () => {
    await close();
  });

  it('returns the exact bytes it was given', async () => {
    // Prepare: CRLF, NUL and high bytes, as raw RFC 5322 messages can have.
    const body = Buffer.concat([
      Buffer.from('Subject: =?UTF-8?B?w6k=?=\r\n\r\nbody\r\n.\r\n'),
      Buffer.from([0x00, 0xff, 0x80, 0x0d]),
    ]);

    // Act
    const location = await store.put(key(1), new Uint8Array(body));
    const read = await readAll(await store.get(key(1)));

    // Assess
    expect(read.equals(body)).toBe(true);
    expect(location).toEqual(bucket ? { bucket, key: key(1) } : { key: key(1) });
  });

  it('streams a 20 MB message in and back out intact', async () => {
    // Prepare
    const total = 20 * MiB;
    const expected = await sha256Of(pseudoRandomChunks(total, 256 * 1024));

    // Act
    await store.put(key(2), Readable.from(pseudoRandomChunks(total, 256 * 1024)), { contentLength: total });
    const actual = await sha256Of(await store.get(key(2)));

    // Assess
    expect(actual).toBe(expected);
  });

  it('stores bytes held as pieces as the pieces in order, never more or less', async () => {
    // Prepare: views into larger buffers, as the IMAP adapter hands them over, and an empty piece.
    const read = Buffer.from('* 1 FETCH (BODY[] {40}\r\nSubject: pieces\r\n\r\nfirst ');
    const next = Buffer.from('and the second part\r\n)\r\nA1 OK done\r\n');
    const pieces = [read.subarray(read.indexOf('Subject')), new Uint8Array(0), next.subarray(0, 21)];
    const expected = Buffer.concat(pieces);

    // Act
    await store.put(key(6), pieces);
    await store.put(key(7), [next.subarray(0, 5)]);
    await store.put(key(8), []);

    // Assess
    expect((await readAll(await store.get(key(6)))).equals(expected)).toBe(true);
    expect((await readAll(await store.get(key(7)))).toString()).toBe('and t');
    expect((await readAll(await store.get(key(8)))).length).toBe(0);
  });

  it('replaces the blob when the same key is put again', async () => {
    // Prepare
    await store.put(key(3), new Uint8Array(Buffer.from('a longer first version of the message')));

    // Act
    await store.put(key(3), Readable.from([Buffer.from('second')]));

    // Assess
    expect((await readAll(await store.get(key(3)))).toString()).toBe('second');
  });

  it('keeps the previous blob when a streamed put fails midway', async () => {
    // Prepare
    await store.put(key(4), new Uint8Array(Buffer.from('complete message')));
    const failing = Readable.from(
      (function* () {
        yield Buffer.from('half a mess');
        throw new Error('IMAP connection lost');
      })(),
    );

    // Act
    const put = store.put(key(4), failing);

    // Assess
    await expect(put).rejects.toThrow('IMAP connection lost');
    expect((await readAll(await store.get(key(4)))).toString()).toBe('complete message');
  });

  it('reads a header block up to its blank line, in one read or several', async () => {
    // Prepare: a short header over a 2 MB body; a 100 KB header; bare LF; no body; exactly one first read long.
    const body = 'x'.repeat(76).concat('\r\n').repeat(26_000);
    const short = 'From: a@b.example\r\nSubject: hi\r\n\r\n';
    const long = `${Array.from({ length: 1_000 }, (_, i) => `X-Trace-${i}: ${'t'.repeat(90)}\r\n`).join('')}\r\n`;
    const bareLf = 'From: a@b.example\nSubject: lf\n\n';
    const headerOnly = 'From: a@b.example\r\nSubject: no body\r\n';
    await store.put(key(11), new Uint8Array(Buffer.from(short + body)));
    await store.put(key(12), new Uint8Array(Buffer.from(long + body)));
    await store.put(key(13), new Uint8Array(Buffer.from(`${bareLf}body\n`)));
    await store.put(key(14), new Uint8Array(Buffer.from(headerOnly)));
    const firstRead = `X-Fill: ${'f'.repeat(16 * 1024 - 10)}\r\n`;
    await store.put(key(15), new Uint8Array(Buffer.from(firstRead)));

    // Act
    const heads = await Promise.all([11, 12, 13, 14, 15].map((uid) => store.getHead!(key(uid), 256 * 1024)));

    // Assess
    expect(heads.map((h) => Buffer.from(h).toString())).toEqual([short, long, bareLf, headerOnly, firstRead]);
  });

  it('cuts a header block longer than the limit at the limit', async () => {
    // Prepare
    const header = Array.from({ length: 400 }, (_, i) => `X-Long-${i}: ${'v'.repeat(200)}\r\n`).join('');
    await store.put(key(16), new Uint8Array(Buffer.from(`${header}\r\nbody`)));

    // Act
    const head = await store.getHead!(key(16), 40_000);

    // Assess
    expect(Buffer.from(head).equals(Buffer.from(header).subarray(0, 40_000))).toBe(true);
  });

  it('rejects a head read of a missing key with BlobNotFoundError', async () => {
    // Act
    const head = store.getHead!(key(998), 1024);

    // Assess
    await expect(head).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('rejects get of a missing key with BlobNotFoundError', async () => {
    // Act
    const get = store.get(key(999));

    // Assess
    await expect(get).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(get).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND', context: { key: key(999) } });
  });

  it('tells whether a blob exists, and a key prefix is not a blob', async () => {
    // Prepare
    const before = await store.exists(key(5));
    await store.put(key(5), new Uint8Array([1]));

    // Act
    const after = await store.exists(key(5));
    const prefix = await store.exists('raw/acme/INBOX');

    // Assess
    expect(before).toBe(false);
    expect(after).toBe(true);
    expect(prefix).toBe(false);
  });

  it('keeps mailbox names with spaces, percent signs and non-ASCII apart', async () => {
    // Prepare
    const keys = [
      'raw/acme/Sent%20Items/1/1.eml',
      'raw/acme/Sent Items/1/1.eml',
      'raw/acme/Entw&APw-rfe/1/1.eml',
    ];

    // Act
    for (const [i, k] of keys.entries()) await store.put(k, new Uint8Array([i]));

    // Assess
    for (const [i, k] of keys.entries()) expect([...(await readAll(await store.get(k)))]).toEqual([i]);
  });
});

describe('FsBlobStore', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'postroom-fs-blobs-'));
  });

  afterAll(async () => {
    await killLiving();
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a header block without reading the message's body", async () => {
    // Prepare: count the bytes every file handle reads.
    const store = new FsBlobStore(dir);
    const { header, raw } = bigBodyMessage();
    await store.put('head/1.eml', raw);
    const probe = await open(join(dir, 'head/1.eml'), 'r');
    const handles = Object.getPrototypeOf(probe) as {
      read: (...args: unknown[]) => Promise<{ bytesRead: number }>;
    };
    await probe.close();
    const original = handles.read;
    let bytesRead = 0;
    handles.read = async function (this: unknown, ...args: unknown[]) {
      const result = await original.apply(this, args);
      bytesRead += result.bytesRead;
      return result;
    };

    // Act
    let head: Uint8Array;
    try {
      head = await store.getHead('head/1.eml', 256 * 1024);
    } finally {
      handles.read = original;
    }

    // Assess
    expect(Buffer.from(head).toString()).toBe(header);
    expect(bytesRead).toBeGreaterThanOrEqual(header.length);
    expect(bytesRead).toBeLessThanOrEqual(16 * 1024);
  });

  it.each(['../outside.eml', 'raw/../../outside.eml', '/etc/passwd', 'raw//1.eml', 'raw/./1.eml', ''])(
    'refuses the key %j',
    async (badKey) => {
      // Prepare
      const store = new FsBlobStore(dir);

      // Act
      const put = store.put(badKey, new Uint8Array([1]));

      // Assess
      await expect(put).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(put).rejects.toMatchObject({ code: 'BLOB_KEY_INVALID' });
    },
  );

  it('writes a 20 MB stream holding only a few chunks in memory at a time', async () => {
    // Prepare: live memory, measured after a full collection, at every chunk the store pulls.
    const store = new FsBlobStore(join(dir, 'memory'));
    const total = 20 * MiB;
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const source = Readable.from(
      (function* () {
        let n = 0;
        for (const chunk of pseudoRandomChunks(total, 64 * 1024)) {
          if (n++ % 16 === 0) {
            collectGarbage();
            peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
          }
          yield chunk;
        }
      })(),
    );

    // Act
    await store.put(key(1), source);

    // Assess: buffering the stream would have held up to 20 MiB by the last chunks.
    expect(peak).toBeLessThan(4 * MiB);
    expect((await stat(join(dir, 'memory', key(1)))).size).toBe(total);
  });

  it('leaves no temp files behind, also after a failed put', async () => {
    // Prepare
    const store = new FsBlobStore(join(dir, 'clean'));
    const failing = Readable.from(
      (function* () {
        yield Buffer.from('partial');
        throw new Error('stream broke');
      })(),
    );

    // Act
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(key(i), new Uint8Array([i]))));
    await expect(store.put(key(100), failing)).rejects.toThrow('stream broke');

    // Assess
    const files = await readdir(join(dir, 'clean', 'raw/acme/INBOX/1700000000'));
    expect(files.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `${i}.eml`).sort());
    expect(await readdir(join(dir, 'clean', '.tmp'))).toEqual([]);
  });

  it('removes temp files whose writer was killed, and never those of a live writer', async () => {
    // Prepare: temp files as a killed put, a live writer, another host and an old crash leave them.
    const root = join(dir, 'stale');
    const store = new FsBlobStore(root);
    await store.put(key(1), new Uint8Array([1]));
    const temp = join(root, '.tmp');
    const tag = thisHostTag();
    const dead = (await deadProcess()).toString(36);
    const living = (await livingProcess()).toString(36);
    const names = {
      killed: `${dead}-${tag}-0badc0de-3.tmp`,
      live: `${living}-${tag}-0badc0de-0.tmp`,
      otherHost: `${dead}-00000000-0badc0de-0.tmp`,
      oldOtherHost: `${living}-00000000-0badc0de-1.tmp`,
      notOurs: 'notes.txt',
    };
    for (const name of Object.values(names)) await writeFile(join(temp, name), 'partial');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(join(temp, names.oldOtherHost), twoDaysAgo, twoDaysAgo);

    // Act
    const removed = await new FsBlobStore(root).removeStaleTemporaryFiles();

    // Assess
    expect(removed).toBe(2);
    expect((await readdir(temp)).sort()).toEqual([names.live, names.otherHost, names.notOurs].sort());
    expect(await store.exists(key(1))).toBe(true);
  });

  it('refuses keys inside its temp folder', async () => {
    // Prepare
    const store = new FsBlobStore(join(dir, 'reserved'));

    // Act
    const put = store.put('.tmp/1.eml', new Uint8Array([1]));

    // Assess
    await expect(put).rejects.toBeInstanceOf(InvalidBlobKeyError);
  });

  it('recreates a folder that was removed behind its back', async () => {
    // Prepare
    const root = join(dir, 'removed');
    const store = new FsBlobStore(root);
    await store.put(key(1), new Uint8Array([1]));
    await rm(join(root, 'raw'), { recursive: true });

    // Act
    await store.put(key(2), new Uint8Array([2]));

    // Assess
    expect(await store.exists(key(2))).toBe(true);
  });

  it('with deferSync, has every blob in place at once and flushes them on flush()', async () => {
    // Prepare
    const store = new FsBlobStore(join(dir, 'deferred'), { deferSync: true });

    // Act
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(key(i), new Uint8Array([i]))));
    const visibleBeforeFlush = await store.exists(key(9));
    await store.flush();

    // Assess
    expect(visibleBeforeFlush).toBe(true);
    expect([...(await readAll(await store.get(key(9))))]).toEqual([9]);
  });
});

/**
 * An HTTP proxy in front of s3rver that answers the first PUT of each object
 * with 503 SlowDown once it has read the whole body, as S3 does under load.
 */
async function slowDownOnce(
  target: string,
): Promise<{ endpoint: string; refused: string[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const refused: string[] = [];
  const server = createServer((incoming, answer) => {
    const path = incoming.url ?? '/';
    if (incoming.method === 'PUT' && !refused.includes(path)) {
      refused.push(path);
      incoming.resume();
      incoming.on('end', () => {
        answer.writeHead(503, { 'content-type': 'application/xml' });
        answer.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        );
      });
      return;
    }
    const { expect: _continue, ...headers } = incoming.headers;
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: incoming.method, path, headers },
      (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      },
    );
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('S3BlobStore', () => {
  let endpoint: string;
  let own: Emulator | undefined;
  let restore: () => void;

  beforeAll(async () => {
    ({ endpoint, own } = await s3Endpoint());
    restore = useEmulatorEnv({ s3: endpoint });
  });

  afterAll(async () => {
    restore();
    await own?.stop();
  });

  it('uploads a stream larger than a part as a multipart upload of 5 MiB parts', async () => {
    // Prepare
    const bucket = `postroom-${randomUUID()}`;
    await createBucket(endpoint, bucket);
    const store = new S3BlobStore({ bucket });
    const commands: string[] = [];
    store.client.middlewareStack.add(
      (next, context) => (args) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize' },
    );

    // Act
    await store.put(key(1), Readable.from(pseudoRandomChunks(17 * MiB, 256 * 1024)));

    // Assess: parts of at most 5 MiB (5 + 5 + 5 + 2) are what bounds the memory of a streamed put.
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(4);
    expect(commands).toContain('CompleteMultipartUploadCommand');
    const head = await store.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key(1) }));
    expect(head.ContentLength).toBe(17 * MiB);
  });

  it.each([
    ['WHEN_SUPPORTED', true],
    ['WHEN_REQUIRED', false],
  ] as const)(
    'puts bytes held as pieces in one plain PutObject, with the CRC32 the SDK would send (%s)',
    async (setting, withChecksum) => {
      // Prepare
      const bucket = `postroom-${randomUUID()}`;
      await createBucket(endpoint, bucket);
      const store = new S3BlobStore({
        bucket,
        client: new S3Client({ ...s3ClientConfig(), requestChecksumCalculation: setting }),
      });
      const sent: { command: string; headers: Record<string, string> }[] = [];
      store.client.middlewareStack.add(
        (next, context) => async (args) => {
          const headers = (args.request as { headers: Record<string, string> }).headers;
          sent.push({ command: context.commandName ?? '?', headers: { ...headers } });
          return next(args);
        },
        { step: 'finalizeRequest' },
      );
      const pieces = [...pseudoRandomChunks(300 * 1024, 64 * 1024)];
      const joined = Buffer.concat(pieces);

      // Act: the pieces, then the same bytes as one buffer, which the SDK checksums itself.
      await store.put(key(1), pieces);
      await store.put(key(2), new Uint8Array(joined));

      // Assess
      expect(sent.map((request) => request.command)).toEqual(['PutObjectCommand', 'PutObjectCommand']);
      const [asPieces, asBuffer] = sent.map((request) => request.headers);
      expect(asPieces!['content-length']).toBe(String(joined.length));
      expect(asPieces!['content-encoding']).toBeUndefined();
      expect(asPieces!['x-amz-checksum-crc32']).toBe(asBuffer!['x-amz-checksum-crc32']);
      expect(asPieces!['x-amz-checksum-crc32'] !== undefined).toBe(withChecksum);
      expect((await readAll(await store.get(key(1)))).equals(joined)).toBe(true);
    },
  );

  it('retries a put answered 503 SlowDown, sending bytes held as pieces again in full', async () => {
    // Prepare
    const bucket = `postroom-${randomUUID()}`;
    await createBucket(endpoint, bucket);
    const proxy = await slowDownOnce(endpoint);
    const store = new S3BlobStore({
      bucket,
      client: new S3Client({ ...s3ClientConfig(), endpoint: proxy.endpoint }),
    });
    const pieces = [...pseudoRandomChunks(300 * 1024, 64 * 1024)];
    const joined = Buffer.concat(pieces);

    try {
      // Act: as pieces, and as one buffer for comparison.
      await store.put(key(1), pieces);
      await store.put(key(2), new Uint8Array(joined));

      // Assess: each was refused once, then stored whole.
      expect(proxy.refused).toHaveLength(2);
      expect((await readAll(await store.get(key(1)))).equals(joined)).toBe(true);
      expect((await readAll(await store.get(key(2)))).equals(joined)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("reads a header block with one ranged GET, not the message's body", async () => {
    // Prepare: count the body bytes of every answer.
    const bucket = `postroom-${randomUUID()}`;
    await createBucket(endpoint, bucket);
    const store = new S3BlobStore({ bucket });
    const { header, raw } = bigBodyMessage();
    await store.put(key(1), raw);
    const ranges: (string | undefined)[] = [];
    let bytes = 0;
    store.client.middlewareStack.add(
      (next) => async (args) => {
        ranges.push((args.input as { Range?: string }).Range);
        const result = await next(args);
        bytes += Number((result.output as { ContentLength?: number }).ContentLength ?? 0);
        return result;
      },
      { step: 'initialize', name: 'countHeadBytes' },
    );

    // Act
    const head = await store.getHead(key(1), 256 * 1024);

    // Assess
    expect(Buffer.from(head).toString()).toBe(header);
    expect(ranges).toEqual(['bytes=0-16383']);
    expect(bytes).toBe(16 * 1024);
  });

  it('stores a .eml blob as message/rfc822', async () => {
    // Prepare
    const bucket = `postroom-${randomUUID()}`;
    await createBucket(endpoint, bucket);
    const store = new S3BlobStore({ bucket });

    // Act
    await store.put(key(1), new Uint8Array(Buffer.from('Subject: hi\r\n\r\n')));

    // Assess
    const head = await store.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key(1) }));
    expect(head.ContentType).toBe('message/rfc822');
  });
});
