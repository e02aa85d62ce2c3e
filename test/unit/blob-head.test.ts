/**
 * `readHead` on a store without a ranged read: the folder store's stream,
 * read only until the blank line ends the header, and cut at the limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '#lib/adapters/local/fs-blob-store.ts';
import { readHead } from '#lib/core/blob-head.ts';
import type { BlobStore } from '#lib/ports.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder store seen through `get` alone, as a store without `getHead` is. */
async function streamOnlyStore(key: string, body: string): Promise<BlobStore> {
  const dir = mkdtempSync(join(tmpdir(), 'postroom-blob-head-'));
  dirs.push(dir);
  const store = new FsBlobStore(dir, { durable: false });
  await store.put(key, Buffer.from(body));
  return { ...store, get: (k: string) => store.get(k), getHead: undefined } as unknown as BlobStore;
}

describe('readHead without BlobStore.getHead', () => {
  it('returns the header through its blank line, not the body', async () => {
    const header = `Subject: hello\r\nX-Long: ${'a'.repeat(100_000)}\r\n\r\n`;
    const blobs = await streamOnlyStore('m.eml', `${header}${'body line\r\n'.repeat(50_000)}`);
    const head = Buffer.from(await readHead(blobs, 'm.eml', 256 * 1024));
    expect(head.toString('latin1')).toBe(header);
  });

  it('cuts a header longer than the limit at the limit', async () => {
    const blobs = await streamOnlyStore('long.eml', `X-Long: ${'b'.repeat(200_000)}\r\n\r\nbody`);
    expect((await readHead(blobs, 'long.eml', 64 * 1024)).byteLength).toBe(64 * 1024);
  });
});
