/**
 * Working with `HeldBytes` (ports.ts): bytes in memory as one buffer or as the
 * pieces they arrived in. Joining copies, so it is for the places that need
 * one contiguous buffer (a parser); stores write the pieces as they are.
 */
import type { Readable } from 'node:stream';
import type { HeldBytes } from './ports.ts';

/** True for bytes in memory (one buffer or a list of pieces), false for a stream. */
export function isHeldBytes(source: HeldBytes | Readable): source is HeldBytes {
  return source instanceof Uint8Array || Array.isArray(source);
}

/** How many bytes in all. */
export function heldLength(bytes: HeldBytes): number {
  if (bytes instanceof Uint8Array) return bytes.byteLength;
  let total = 0;
  for (const piece of bytes) total += piece.byteLength;
  return total;
}

/** The pieces, in order (one buffer is a list of one). */
export function heldPieces(bytes: HeldBytes): readonly Uint8Array[] {
  return bytes instanceof Uint8Array ? [bytes] : bytes;
}

/**
 * The first `limit` bytes (all of them by default) as one contiguous buffer: a
 * view when they lie in one piece, else a copy.
 */
export function joinHeld(bytes: HeldBytes, limit = Number.POSITIVE_INFINITY): Uint8Array {
  const first = bytes instanceof Uint8Array ? bytes : bytes.length === 0 ? new Uint8Array(0) : bytes[0]!;
  if (bytes instanceof Uint8Array || first.byteLength >= limit || bytes.length === 1) {
    return first.subarray(0, Math.min(limit, first.byteLength));
  }
  const wanted = Math.min(limit, heldLength(bytes));
  const joined = Buffer.allocUnsafe(wanted);
  let filled = 0;
  for (const piece of bytes) {
    if (filled >= wanted) break;
    const take = Math.min(piece.byteLength, wanted - filled);
    joined.set(take === piece.byteLength ? piece : piece.subarray(0, take), filled);
    filled += take;
  }
  return joined;
}
