/**
 * The value tests conditions are built from: string, address and header tests,
 * sizes, durations and date ranges. Split from `schema.ts` so each schema
 * concern reads in one file; `schema.ts` re-exports all of it.
 */
import { RE2JS } from 're2js';
import * as z from 'zod';
import { explainRegexError } from './string-match.ts';
import { DURATION_PATTERN, SIZE_PATTERN, STRING_TEST_KEYS } from './vocabulary.ts';

// ---------------------------------------------------------------------------
// Strings

const oneOrMany = (item: z.ZodString, what: string) =>
  z.union([item, z.array(item).min(1, `expected at least one ${what}`)], {
    error: `expected a ${what} or a list of them`,
  });

/** Compiles with re2js and returns the reason it failed, if it did. */
function regexProblem(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (error) {
    // re2js messages look like "error parsing regexp: missing closing ): `a(b`".
    return explainRegexError(pattern, (error as Error).message.replace(/^error parsing regexp: /, ''));
  }
}

const regexSchema = z.string().superRefine((pattern, ctx) => {
  const problem = regexProblem(pattern);
  if (problem !== undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${problem}` });
  }
});

/** The fields shared by every string test. */
const stringTestFields = {
  /** The whole value equals this (or one of these). */
  is: oneOrMany(z.string(), 'string').optional(),
  /** The value contains this substring (or one of these). */
  contains: oneOrMany(z.string(), 'string').optional(),
  /** Sieve-style wildcard over the whole value: `*` any run of characters, `?` one, `\` escapes. */
  matches: oneOrMany(z.string(), 'wildcard pattern').optional(),
  /** An RE2 regular expression, searched anywhere in the value (no backreferences or lookaround). */
  regex: z
    .union([regexSchema, z.array(regexSchema).min(1, 'expected at least one regular expression')], {
      error: 'expected a regular expression or a list of them',
    })
    .optional(),
  /** `true`: the value is present (and for addresses: at least one); `false`: it is absent. */
  exists: z.boolean().optional(),
  /** @default false */
  caseSensitive: z.boolean().optional(),
};

function countTests(value: Record<string, unknown>): number {
  return STRING_TEST_KEYS.filter((key) => value[key] !== undefined).length;
}

const EXACTLY_ONE = `expected exactly one of ${STRING_TEST_KEYS.join(', ')}`;

const stringTestObjectSchema = z.strictObject(stringTestFields).superRefine((value, ctx) => {
  if (countTests(value) !== 1) ctx.addIssue({ code: 'custom', message: EXACTLY_ONE });
});

/** A test on a text value. A bare string means `{ contains: ... }`. */
export const stringTestSchema = z.union([z.string(), stringTestObjectSchema], {
  error: 'expected a string or a test such as { contains: ... }',
});

const domainSchema = z
  .string()
  .trim()
  .min(1, 'expected a domain')
  .regex(/^[^\s@]+$/, 'expected a domain without @ or spaces');

/**
 * A test on address headers. Any one address satisfying every given key makes it true.
 * `is`/`contains`/`matches`/`regex` look at `local@domain` (the domain both in
 * Unicode and in its ASCII/punycode form), `name` at the display name, `domain`
 * at the domain: that domain or a subdomain of it.
 */
export const addressTestSchema = z.union(
  [
    z.string(),
    z
      .strictObject({
        ...stringTestFields,
        /** The address is in this domain (or a subdomain), or in one of these. */
        domain: z
          .union([domainSchema, z.array(domainSchema).min(1, 'expected at least one domain')], {
            error: 'expected a domain or a list of them',
          })
          .optional(),
        /** A test on the display name. */
        name: stringTestSchema.optional(),
      })
      .superRefine((value, ctx) => {
        const tests = countTests(value);
        if (tests > 1) ctx.addIssue({ code: 'custom', message: EXACTLY_ONE });
        if (tests === 0 && value.domain === undefined && value.name === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `expected one of ${STRING_TEST_KEYS.join(', ')}, or domain or name`,
          });
        }
      }),
  ],
  { error: 'expected a string or a test such as { domain: example.com }' },
);

// RFC 5322 field-name: printable US-ASCII except the colon.
const headerNameSchema = z
  .string()
  .regex(/^[\x21-\x39\x3b-\x7e]+$/, 'expected a header name such as List-Id');

/** `header: { name: List-Id, exists: true }`: a test on every occurrence of one header, decoded. */
export const headerTestSchema = z
  .strictObject({ name: headerNameSchema, ...stringTestFields })
  .superRefine((value, ctx) => {
    if (countTests(value) !== 1) ctx.addIssue({ code: 'custom', message: EXACTLY_ONE });
  });

// ---------------------------------------------------------------------------
// Sizes, durations, dates

/** A size in bytes, or a string with a unit. */
export const sizeSchema = z.union(
  [
    z.number().nonnegative('expected a size of 0 or more'),
    z.string().regex(SIZE_PATTERN, 'expected a size such as 10MB or "500 KB"'),
  ],
  { error: 'expected a size such as 10MB or "500 KB"' },
);

export const durationSchema = z
  .string({ error: 'expected a duration such as 30d, 12h or 2w' })
  .regex(DURATION_PATTERN, 'expected a duration such as 30d, 12h or 2w');

const dateValueSchema = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
  error: 'expected an ISO date such as 2026-01-31 or a date-time with offset',
});

export function atLeastOne<T extends Record<string, unknown>>(keys: ReadonlyArray<keyof T & string>) {
  return (value: T, ctx: z.RefinementCtx) => {
    if (keys.every((key) => value[key] === undefined)) {
      ctx.addIssue({ code: 'custom', message: `expected ${keys.join(' and/or ')}` });
    }
  };
}

export const sizeRangeSchema = z
  .strictObject({
    /** Strictly larger than this. */
    over: sizeSchema.optional(),
    /** Strictly smaller than this. */
    under: sizeSchema.optional(),
  })
  .superRefine(atLeastOne(['over', 'under']));

export const ageRangeSchema = z
  .strictObject({
    /** Older than this. */
    over: durationSchema.optional(),
    /** Younger than this. */
    under: durationSchema.optional(),
  })
  .superRefine(atLeastOne(['over', 'under']));

export const dateRangeSchema = z
  .strictObject({
    /** Strictly earlier than this instant (IMAP BEFORE). */
    before: dateValueSchema.optional(),
    /** On or after this instant (IMAP SINCE). */
    after: dateValueSchema.optional(),
  })
  .superRefine(atLeastOne(['before', 'after']));

export type StringTest = z.infer<typeof stringTestSchema>;
export type AddressTest = z.infer<typeof addressTestSchema>;
export type HeaderTest = z.infer<typeof headerTestSchema>;
export type SizeRange = z.infer<typeof sizeRangeSchema>;
export type AgeRange = z.infer<typeof ageRangeSchema>;
export type DateRange = z.infer<typeof dateRangeSchema>;
