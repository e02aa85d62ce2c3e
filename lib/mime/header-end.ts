/** Where a message's header block ends: no dependencies, for the blob stores' head reads too. */

/**
 * Where the header block ends (the offset of the blank line's end), or -1 when
 * the bytes hold no blank line. Bare-LF messages are accepted as servers keep them.
 */
export function headerEnd(bytes: Uint8Array, limit = bytes.length): number {
  const end = Math.min(limit, bytes.length);
  for (let i = 0; i < end; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i + 1] === 0x0a) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}
