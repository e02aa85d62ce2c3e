/**
 * The schema of the conditions on who really sent a message and what kind of
 * mail it is: `auth` (sender authentication verdicts), `spam` (the receiving
 * server's spam score), `bounce` and `complaint`. Kept apart from `schema.ts`;
 * evaluated by `sender-match.ts`.
 *
 * ```yaml
 * when:
 *   all:
 *     - from: { domain: acme.example }
 *     - auth: { dmarc: pass }                                 # or
 *     - auth: { dkim: { result: pass, domain: acme.example } }
 *     - not: { spam: { score: { over: 5 } } }
 * ```
 */
import * as z from 'zod';
import { DETAIL_ITEMS } from '../mime/event-detail.ts';

/** RFC 8601 result values (and mailauth's). */
export const AUTH_RESULTS = [
  'pass',
  'fail',
  'softfail',
  'neutral',
  'none',
  'temperror',
  'permerror',
  'policy',
] as const;

const resultSchema = z.enum(AUTH_RESULTS, { error: `expected one of ${AUTH_RESULTS.join(', ')}` });
const resultsSchema = z.union([resultSchema, z.array(resultSchema).min(1, 'expected at least one result')], {
  error: `expected a result (${AUTH_RESULTS.join(', ')}) or a list of them`,
});

const domainSchema = z
  .string()
  .trim()
  .min(1, 'expected a domain')
  .regex(/^[^\s@]+$/, 'expected a domain without @ or spaces');

/** `dkim: pass`, or `{ result: pass, domain: acme.example }`: one signature of that domain (or a subdomain) with that result. */
const dkimTestSchema = z.union([
  resultsSchema,
  z
    .strictObject({
      /** @default pass */
      result: resultsSchema.optional(),
      /** The signing domain (`d=`): that domain or a subdomain. */
      domain: z.union([domainSchema, z.array(domainSchema).min(1)]).optional(),
    })
    .refine((v) => v.result !== undefined || v.domain !== undefined, {
      message: 'expected result and/or domain',
    }),
]);

/** Each given method has (one of) the given result(s). */
export const authTestSchema = z
  .strictObject({
    dkim: dkimTestSchema.optional(),
    spf: resultsSchema.optional(),
    dmarc: resultsSchema.optional(),
    arc: resultsSchema.optional(),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), {
    message: 'expected dkim, spf, dmarc and/or arc',
  });

const scoreRangeSchema = z
  .strictObject({
    /** Strictly more than this. */
    over: z.number().optional(),
    /** Strictly less than this. */
    under: z.number().optional(),
  })
  .refine((v) => v.over !== undefined || v.under !== undefined, { message: 'expected over and/or under' });

/** The spam filter's verdict, from the headers the receiving server adds. */
export const spamTestSchema = z
  .strictObject({
    score: scoreRangeSchema.optional(),
    /** The filter said yes (X-Spam-Flag: YES, X-Spam-Status: Yes). */
    flagged: z.boolean().optional(),
  })
  .refine((v) => v.score !== undefined || v.flagged !== undefined, {
    message: 'expected score and/or flagged',
  });

export type AuthTest = z.infer<typeof authTestSchema>;
export type SpamTest = z.infer<typeof spamTestSchema>;

export const detailItemsSchema = z.array(
  z.enum(DETAIL_ITEMS, { error: `expected one of ${DETAIL_ITEMS.join(', ')}` }),
);

/** Text and reply caps: at most 200 KiB, so an event still fits EventBridge's 256 KB. */
export const textMaxBytesSchema = z
  .number()
  .int()
  .min(0)
  .max(200 * 1024);

/** `emit: { detailType, detail?, textMaxBytes? }`: an event with more than the global `events.detail`. */
export const emitObjectSchema = z.strictObject({
  /** The event's detail-type, e.g. `invoice.received`. */
  detailType: z
    .string({ error: 'expected an event detail-type such as invoice.received' })
    .trim()
    .min(1, 'expected an event detail-type such as invoice.received')
    .max(128, 'expected at most 128 characters (EventBridge detail-type)'),
  /** What the event carries beyond the queue message; replaces `events.detail` for this action. */
  detail: detailItemsSchema.optional(),
  /** Replaces `events.textMaxBytes` for this action. */
  textMaxBytes: textMaxBytesSchema.optional(),
});
