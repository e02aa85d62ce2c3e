/**
 * The rule language's words and unit patterns, shared by the schema and the
 * matcher. Plain constants, kept apart from the zod schemas so that evaluating
 * rules (the process function) does not build the schemas at import.
 */
import type { Condition } from './schema.ts';

/** The keys of a string test that say what to compare; exactly one is allowed. */
export const STRING_TEST_KEYS = ['is', 'contains', 'matches', 'regex', 'exists'] as const;

/** `10MB`, `"500 KB"`, `1.5G`, `2048` (bytes). K/M/G are powers of 1024, as in Sieve (RFC 5228). */
export const SIZE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i;

/** `30d`, `12h`, `90m`, `45s`, `2w` (also long forms: `30 days`). */
export const DURATION_PATTERN =
  /^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s*$/i;

export const CONDITION_KEYS = [
  'from',
  'to',
  'cc',
  'recipient',
  'subject',
  'header',
  'body',
  'attachment',
  'size',
  'age',
  'date',
  'flags',
  'labels',
  'autoReply',
  'bulk',
  'list',
  'auth',
  'spam',
  'bounce',
  'complaint',
  'all',
  'any',
  'not',
] as const satisfies ReadonlyArray<keyof Condition>;
