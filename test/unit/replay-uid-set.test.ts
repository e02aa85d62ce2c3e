/** `postroom replay --uids`: IMAP-style UID sets, and nothing else. */
import { describe, expect, it } from 'vitest';
import { parseUidSet } from '#lib/core/replay.ts';

const stored = [1, 2, 3, 4, 7, 9, 12, 13, 30, 40];
/** The stored UIDs the set picks, `*` standing for the highest (40). */
const pick = (set: string) => {
  const selector = parseUidSet(set);
  return stored.filter((uid) => selector(uid, 40));
};

describe('parseUidSet', () => {
  it('takes single UIDs, ranges in either order and open ranges', () => {
    expect(pick('4')).toEqual([4]);
    expect(pick('1:3')).toEqual([1, 2, 3]);
    expect(pick('3:1')).toEqual([1, 2, 3]);
    expect(pick('7,9:12,30:*')).toEqual([7, 9, 12, 30, 40]);
    expect(pick('*')).toEqual([40]);
    expect(pick('*:13')).toEqual([13, 30, 40]);
  });

  it('refuses anything that is not a UID set, naming the bad part', () => {
    for (const bad of ['', 'abc', '1-3', '0', '1:0', '1,,2', '1:2:3', '12345678901'])
      expect(() => parseUidSet(bad), bad).toThrow(/--uids: /);
  });
});
