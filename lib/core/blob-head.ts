/**
 * A stored message's header block, read no further than the rules need:
 * through the store's own ranged read (`BlobStore.getHead`) where it has one,
 * otherwise by reading the stream until the blank line. Shared by processing
 * (header rules) and replay (rebuilding the queue message).
 */
import { headerEnd } from '../mime/header-end.ts';
import type { BlobStore } from '../ports.ts';

/** As `BlobStore.getHead`: through the blank line that ends the header, cut at `maxBytes`. */
export async function readHead(blobs: BlobStore, key: string, maxBytes: number): Promise<Uint8Array> {
  if (blobs.getHead) return blobs.getHead(key, maxBytes);
  const stream = await blobs.get(key);
  const chunks: Buffer[] = [];
  let length = 0;
  const cut = (bytes: Buffer) => {
    const end = headerEnd(bytes, maxBytes);
    return bytes.subarray(0, end < 0 ? Math.min(bytes.length, maxBytes) : end);
  };
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (length >= maxBytes || headerEnd(bytes, maxBytes) >= 0) return cut(bytes);
    }
    return cut(Buffer.concat(chunks));
  } finally {
    stream.destroy();
  }
}
