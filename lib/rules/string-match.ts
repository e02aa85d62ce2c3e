/**
 * Compiling string tests into predicates. Mail is attacker-controlled, so every
 * pattern runs on RE2 (re2js): matching time is linear in the input, whatever
 * the pattern, and there are no backreferences or lookarounds to blow up.
 */
import { RE2JS } from 're2js';
import type { StringTest } from './schema.ts';

/** Lower-cases text; {@link LowerCache} remembers long values. */
export interface Lowerer {
  lower(value: string): string;
}

/**
 * A compiled test: true when `value` satisfies it. `undefined` means the value is
 * absent. `lowerer` lets one evaluation lower-case a long body only once.
 */
export type TextPredicate = (value: string | undefined, lowerer?: Lowerer) => boolean;

/** The test keys without `exists`, with their values normalised to lists. */
interface NormalisedTest {
  is?: string[];
  contains?: string[];
  matches?: string[];
  regex?: string[];
  exists?: boolean;
  caseSensitive: boolean;
}

function list(value: string | string[] | undefined): string[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function normalise(test: StringTest): NormalisedTest {
  if (typeof test === 'string') return { contains: [test], caseSensitive: false };
  return {
    is: list(test.is),
    contains: list(test.contains),
    matches: list(test.matches),
    regex: list(test.regex),
    exists: test.exists,
    caseSensitive: test.caseSensitive ?? false,
  };
}

/**
 * Translates a Sieve-style wildcard (RFC 5228 `:matches`) into an RE2 pattern for
 * the whole value: `*` is any run of characters, `?` exactly one, and `\` makes
 * the next character literal. Everything else is quoted.
 */
export function wildcardToRegex(pattern: string): string {
  let out = '';
  let literal = '';
  const flush = () => {
    if (literal !== '') out += RE2JS.quote(literal);
    literal = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '\\' && i + 1 < pattern.length) {
      literal += pattern[++i];
    } else if (char === '*') {
      flush();
      out += '.*';
    } else if (char === '?') {
      flush();
      out += '.';
    } else {
      literal += char;
    }
  }
  flush();
  return out;
}

function flagsFor(caseSensitive: boolean, dotAll: boolean): number {
  return (caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE) | (dotAll ? RE2JS.DOTALL : 0);
}

/** Lower-cases once per distinct value, since a 5 MB body may be tested by many rules. */
export class LowerCache implements Lowerer {
  private readonly cache = new Map<string, string>();
  lower(value: string): string {
    // Short strings are cheaper to lower again than to look up.
    if (value.length < 256) return value.toLowerCase();
    let lowered = this.cache.get(value);
    if (lowered === undefined) {
      lowered = value.toLowerCase();
      this.cache.set(value, lowered);
    }
    return lowered;
  }
}

const plainLowerer: Lowerer = { lower: (value) => value.toLowerCase() };

/**
 * Compiles a string test into a predicate.
 * - `is`: the whole value; `contains`: a substring; `matches`: a wildcard over the
 *   whole value (`.` also matches line breaks there, so `*` spans a folded header);
 *   `regex`: RE2, found anywhere (use `(?s)`, `(?m)` inline as needed).
 * - Case-insensitive unless `caseSensitive: true`.
 * - An absent value satisfies only `exists: false`.
 */
export function compileStringTest(test: StringTest): TextPredicate {
  const t = normalise(test);
  if (t.exists !== undefined) {
    const wanted = t.exists;
    return (value) => (value !== undefined) === wanted;
  }
  const fold = (value: string, lowerer: Lowerer = plainLowerer) =>
    t.caseSensitive ? value : lowerer.lower(value);
  if (t.is) {
    const wanted = new Set(t.is.map((s) => (t.caseSensitive ? s : s.toLowerCase())));
    return (value, lowerer) => value !== undefined && wanted.has(fold(value, lowerer));
  }
  if (t.contains) {
    const needles = t.contains.map((s) => (t.caseSensitive ? s : s.toLowerCase()));
    return (value, lowerer) => {
      if (value === undefined) return false;
      const haystack = fold(value, lowerer);
      return needles.some((needle) => haystack.includes(needle));
    };
  }
  if (t.matches) {
    const patterns = t.matches.map((p) => RE2JS.compile(wildcardToRegex(p), flagsFor(t.caseSensitive, true)));
    return (value) => value !== undefined && patterns.some((re) => re.testExact(value));
  }
  if (t.regex) {
    const patterns = t.regex.map((p) => RE2JS.compile(p, flagsFor(t.caseSensitive, false)));
    return (value) => value !== undefined && patterns.some((re) => re.test(value));
  }
  // The schema refuses a test without a key; an empty one would otherwise match nothing silently.
  throw new TypeError('string test without is, contains, matches, regex or exists');
}

/**
 * Why RE2 refused a pattern, in the user's terms. RE2 (linear-time matching,
 * whatever the mail) has no lookaround and no backreferences; re2js reports a
 * lookbehind as an "invalid named capture" and a lookahead as a "missing
 * argument to repetition operator", which says nothing to a user who wrote one.
 */
export function explainRegexError(pattern: string, reason: string): string {
  const quoted = `\`${pattern}\``;
  if (/\(\?<[=!]/.test(pattern))
    return `RE2 has no lookbehind ((?<=…), (?<!…)): match the text around it instead (in ${quoted})`;
  if (/\(\?[=!]/.test(pattern))
    return `RE2 has no lookahead ((?=…), (?!…)): match the text around it instead (in ${quoted})`;
  if (/\\[1-9]|\\k</.test(pattern))
    return `RE2 has no backreferences (\\1, \\k<name>): repeat the text instead (in ${quoted})`;
  return reason;
}
