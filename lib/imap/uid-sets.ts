/**
 * UID sets (RFC 3501 `sequence-set`) in both directions: compact sets for the
 * commands we send, and the numbers of the sets a server answers with.
 */

/** Sorted, de-duplicated runs of consecutive UIDs as `a` or `a:b`. */
function uidRanges(uids: Iterable<number>): string[] {
  const sorted = [...new Set(uids)].filter((uid) => Number.isInteger(uid) && uid > 0).sort((a, b) => a - b);
  const ranges: string[] = [];
  let index = 0;
  while (index < sorted.length) {
    const start = sorted[index]!;
    let end = start;
    while (index + 1 < sorted.length && sorted[index + 1] === end + 1) end = sorted[++index]!;
    ranges.push(start === end ? `${start}` : `${start}:${end}`);
    index++;
  }
  return ranges;
}

/**
 * A compact UID set (RFC 3501 `sequence-set`) for sorted or unsorted UIDs:
 * `[1,2,3,7,9,10]` → `1:3,7,9:10`. Duplicates are dropped.
 */
export function uidSet(uids: Iterable<number>): string {
  return uidRanges(uids).join(',');
}

/**
 * Splits UIDs into sets whose textual form stays under `maxLength` characters, so
 * a command line stays well below the 8 KB some servers accept (RFC 7162 section 4
 * recommends clients limit lines to 8192 octets).
 */
export function uidSets(uids: Iterable<number>, maxLength = 4000): string[] {
  const sets: string[] = [];
  let current = '';
  for (const range of uidRanges(uids)) {
    if (current !== '' && current.length + 1 + range.length > maxLength) {
      sets.push(current);
      current = '';
    }
    current = current === '' ? range : `${current},${range}`;
  }
  if (current !== '') sets.push(current);
  return sets;
}

/**
 * Expands a set the server sent (`1:3,7`) into numbers, up to `max` of them:
 * a hostile answer such as `1:4294967295` must not become four billion numbers.
 */
export function expandSet(set: string, max = 1_000_000): number[] {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const [from, to] = part.split(':').map(Number);
    if (from === undefined || !Number.isInteger(from)) continue;
    const end = to === undefined ? from : to;
    if (!Number.isInteger(end)) continue;
    const [low, high] = from <= end ? [from, end] : [end, from];
    for (let uid = low; uid <= high && out.length < max; uid++) out.push(uid);
  }
  return out;
}

/** True for a number that can be a UID, UIDVALIDITY or UIDNEXT (RFC 3501 `nz-number`, 32 bits). */
export function isNzNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 0xffff_ffff;
}
