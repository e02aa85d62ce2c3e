/**
 * Bytes held as one buffer or as the pieces they arrived in (lib/held-bytes.ts).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { heldLength, heldPieces, isHeldBytes, joinHeld } from '#lib/held-bytes.ts';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

describe('held bytes', () => {
  const pieces = [Buffer.from('abc'), Buffer.from(''), Buffer.from('defg'), Buffer.from('h')];

  it('tells bytes in memory from a stream and counts them', () => {
    expect(isHeldBytes(Buffer.from('x'))).toBe(true);
    expect(isHeldBytes(pieces)).toBe(true);
    expect(isHeldBytes(Readable.from([Buffer.from('x')]))).toBe(false);
    expect(heldLength(pieces)).toBe(8);
    expect(heldLength(new Uint8Array(5))).toBe(5);
    expect(heldPieces(pieces)).toBe(pieces);
    expect(heldPieces(pieces[0]!)).toEqual([pieces[0]]);
  });

  it('joins every piece, or only the first bytes asked for, at any limit', () => {
    for (let limit = 0; limit <= 9; limit++) {
      expect(text(joinHeld(pieces, limit))).toBe('abcdefgh'.slice(0, limit));
      expect(text(joinHeld(Buffer.from('abcdefgh'), limit))).toBe('abcdefgh'.slice(0, limit));
    }
    expect(text(joinHeld(pieces))).toBe('abcdefgh');
    expect(joinHeld([]).length).toBe(0);
  });

  it('returns a view, not a copy, when the bytes asked for lie in the first piece', () => {
    expect(joinHeld(pieces, 2).buffer).toBe(pieces[0]!.buffer);
    expect(joinHeld([pieces[2]!]).buffer).toBe(pieces[2]!.buffer);
  });
});
