/**
 * The event contract (README, "Events") as a zod schema: what `emit` sends
 * to EventBridge and writes to `events.jsonl`. `postroom.event.schema.json`
 * is generated from it (`npm run schema`; a unit test keeps it current), and
 * the integration tests validate every event they see against that file.
 * Extended, never renamed; the detail is open (new members may appear).
 */
import * as z from 'zod';
import { AUTH_RESULTS } from '../rules/sender-schema.ts';
import { queueMessageSchema } from './queue-message.ts';

const result = z.string().describe(`One of ${AUTH_RESULTS.join(', ')}`);

export const authDetailSchema = z.object({
  /** `header`: a trusted Authentication-Results; `verified`: Postroom checked (verifyAuth); `none`: nothing trusted. */
  source: z.enum(['header', 'verified', 'none']),
  authservId: z.string().optional(),
  dkim: z.array(z.object({ result, domain: z.string().optional(), selector: z.string().optional() })),
  spf: z.object({ result, domain: z.string().optional() }),
  dmarc: z.object({ result, domain: z.string().optional(), policy: z.string().optional() }),
  arc: z.object({ result }),
});

export const bounceDetailSchema = z.object({
  format: z.enum(['dsn', 'qmail', 'exim', 'postfix', 'gmail', 'plain']),
  action: z.string(),
  status: z.string().optional(),
  permanent: z.boolean(),
  recipient: z.string().optional(),
  diagnostic: z.string().optional(),
  remoteMta: z.string().optional(),
  reportingMta: z.string().optional(),
  originalMessageId: z.string().optional(),
});

export const complaintDetailSchema = z.object({
  feedbackType: z.string(),
  userAgent: z.string().optional(),
  originalRecipient: z.string().optional(),
  originalMailFrom: z.string().optional(),
  sourceIp: z.string().optional(),
  reportedDomain: z.string().optional(),
  originalMessageId: z.string().optional(),
});

/** The detail of an `emit` event: an id, the queue message, the rule, and what `events.detail` asked for. */
export const messageEventDetailSchema = z.looseObject({
  ...queueMessageSchema.shape,
  /** Stable for the (message, rule, action): drop an event whose id you have seen. */
  id: z.string().min(1),
  rule: z.string(),
  /** The plain text, or the HTML reduced to text; cut at `textMaxBytes`. */
  text: z.string().optional(),
  hasHtml: z.boolean().optional(),
  /** The new part of a reply: quoted text and signature removed. */
  reply: z.string().optional(),
  /** Something (text, reply, attachment list, ...) was cut to fit the limits. */
  truncated: z.literal(true).optional(),
  /** Why the detail lacks the parsed items: the message could not be parsed. */
  parseError: z.string().optional(),
  attachments: z
    .array(
      z.object({
        filename: z.string().optional(),
        contentType: z.string(),
        size: z.number().int().nonnegative(),
        contentId: z.string().optional(),
        disposition: z.string(),
        /** The blob key, when `saveAttachments` stored it. */
        key: z.string().optional(),
      }),
    )
    .optional(),
  /** Selected headers (lower-case names), first occurrence, at most 2000 characters each. */
  headers: z.record(z.string(), z.string()).optional(),
  thread: z
    .object({
      messageId: z.string().optional(),
      inReplyTo: z.string().optional(),
      references: z.array(z.string()),
      gmailThreadId: z.string().optional(),
    })
    .optional(),
  recipient: z.object({ address: z.string(), tag: z.string().optional() }).optional(),
  auth: authDetailSchema.optional(),
  spam: z
    .object({
      score: z.number().optional(),
      threshold: z.number().optional(),
      flagged: z.boolean().optional(),
      tests: z.array(z.string()).optional(),
    })
    .optional(),
  classification: z
    .object({
      bounce: bounceDetailSchema.optional(),
      complaint: complaintDetailSchema.optional(),
      autoReply: z.boolean(),
      bulk: z.boolean(),
      list: z.boolean(),
    })
    .optional(),
});

const changeBase = {
  /** Stable for the change: drop an event whose id you have seen. */
  id: z.string().min(1),
  v: z.literal(1),
  account: z.string(),
  mailbox: z.string(),
  uidValidity: z.number().int().positive(),
  uid: z.number().int().positive(),
};

/** `message.flags-changed`: a delivered message's flags changed on the server (`changes: true`). */
export const flagsChangedDetailSchema = z.looseObject({
  ...changeBase,
  flags: z.array(z.string()),
  previousFlags: z.array(z.string()),
  added: z.array(z.string()),
  removed: z.array(z.string()),
  modSeq: z.string().optional(),
});

/** `message.expunged`: a delivered message is gone from the mailbox (`changes: true`). */
export const expungedDetailSchema = z.looseObject({ ...changeBase, previousFlags: z.array(z.string()) });

export const eventSchema = z
  .strictObject({
    /** Written by the local sink: when the event was committed. */
    time: z.string().optional(),
    source: z.literal('postroom'),
    'detail-type': z.string().min(1).max(128),
    detail: z.union([messageEventDetailSchema, flagsChangedDetailSchema, expungedDetailSchema]),
  })
  .meta({ id: 'PostroomEvent' });

export function eventJsonSchemaText(): string {
  const schema = z.toJSONSchema(eventSchema, { unrepresentable: 'any' }) as Record<string, unknown>;
  const out = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Postroom event',
    description: 'An event Postroom emits (EventBridge entry, or one line of events.jsonl).',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}
