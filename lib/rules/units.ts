/**
 * Units in rules: sizes (`10MB`), durations (`30d`) and dates. The schema
 * checked the shapes already; these turn them into numbers.
 */
import { DURATION_PATTERN, SIZE_PATTERN } from './vocabulary.ts';

const SIZE_FACTORS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Bytes for a size as written in a rule. `KB`, `MB`, `GB` are powers of 1024, as
 * Sieve's size test (RFC 5228) reads K, M and G.
 * @example parseSize('500 KB') === 512000
 */
export function parseSize(size: number | string): number {
  if (typeof size === 'number') return size;
  const match = SIZE_PATTERN.exec(size);
  if (!match) throw new RangeError(`not a size: ${size}`);
  return Math.round(Number(match[1]) * SIZE_FACTORS[(match[2] ?? '').toLowerCase()]!);
}

const DURATION_FACTORS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Milliseconds for a duration such as `30d`, `12h`, `90m`, `2w`, `45s` or `30 days`.
 * A day is 24 hours (ages are measured in elapsed time, not calendar days).
 */
export function parseDuration(duration: string): number {
  const match = DURATION_PATTERN.exec(duration);
  if (!match) throw new RangeError(`not a duration: ${duration}`);
  const unit = match[2]!.toLowerCase();
  // `m`/`min...` is minutes; months are not offered because their length varies.
  const key = unit.startsWith('mi') || unit === 'm' ? 'm' : unit[0]!;
  return Number(match[1]) * DURATION_FACTORS[key]!;
}

/** The instant of an ISO date (midnight UTC) or date-time (with its offset). */
export function parseInstant(value: string): number {
  const time = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(time)) throw new RangeError(`not a date: ${value}`);
  return time;
}
