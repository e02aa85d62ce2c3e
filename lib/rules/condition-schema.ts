/**
 * The `when:` condition of a rule: the {@link Condition} interface (whose
 * comments document the keys) and its recursive zod schema.
 */
import * as z from 'zod';
import { flagListSchema } from './folder-schema.ts';
import { type LabelsTest, labelsTestSchema } from './gmail-schema.ts';
import { type AuthTest, authTestSchema, type SpamTest, spamTestSchema } from './sender-schema.ts';
import {
  type AddressTest,
  type AgeRange,
  addressTestSchema,
  ageRangeSchema,
  atLeastOne,
  type DateRange,
  dateRangeSchema,
  type HeaderTest,
  headerTestSchema,
  type SizeRange,
  type StringTest,
  sizeRangeSchema,
  stringTestSchema,
} from './value-schema.ts';
import { CONDITION_KEYS } from './vocabulary.ts';

// ---------------------------------------------------------------------------
// Conditions

/** A condition object as written. Several keys must all hold. */
export interface Condition {
  from?: AddressTest;
  to?: AddressTest;
  cc?: AddressTest;
  /** Any of To, Cc, Bcc, Delivered-To. */
  recipient?: AddressTest;
  subject?: StringTest;
  header?: HeaderTest;
  /** The text part, or the HTML reduced to text. */
  body?: StringTest;
  attachment?: boolean | AttachmentTest;
  size?: SizeRange;
  age?: AgeRange;
  date?: DateRange;
  flags?: FlagsTest;
  /** Gmail labels (X-GM-LABELS). */
  labels?: LabelsTest;
  /** Auto-Submitted other than `no`, X-Autoreply, X-Autorespond, or Precedence: auto_reply. */
  autoReply?: boolean;
  /** Precedence: bulk, junk or list. */
  bulk?: boolean;
  /** A List-Id header is present (RFC 2919). */
  list?: boolean;
  /** Sender authentication verdicts (trusted Authentication-Results, or `verifyAuth`). */
  auth?: AuthTest;
  /** The receiving server's spam verdict. */
  spam?: SpamTest;
  /** A failure report: an RFC 3464 DSN with Action: failed, or a common plain-text bounce. */
  bounce?: boolean;
  /** An ARF feedback report (RFC 5965). */
  complaint?: boolean;
  all?: Condition[];
  any?: Condition[];
  not?: Condition;
}

export const attachmentTestSchema = z
  .strictObject({
    /** The file name (decoded, RFC 2231/2047). */
    name: stringTestSchema.optional(),
    /** The MIME type, lower case, e.g. `application/pdf` (`matches: "image/*"`). */
    type: stringTestSchema.optional(),
    /** The decoded size. */
    size: sizeRangeSchema.optional(),
  })
  .superRefine(atLeastOne(['name', 'type', 'size']));

const flagsTestSchema = z
  .strictObject({
    /** Every one of these flags is set. */
    has: flagListSchema.optional(),
    /** None of these flags is set. */
    lacks: flagListSchema.optional(),
  })
  .superRefine(atLeastOne(['has', 'lacks']));

export const conditionSchema: z.ZodType<Condition> = z
  .strictObject({
    from: addressTestSchema.optional(),
    to: addressTestSchema.optional(),
    cc: addressTestSchema.optional(),
    recipient: addressTestSchema.optional(),
    subject: stringTestSchema.optional(),
    header: headerTestSchema.optional(),
    body: stringTestSchema.optional(),
    attachment: z
      .union([z.boolean(), attachmentTestSchema], {
        error: 'expected true, false or { name?, type?, size? }',
      })
      .optional(),
    size: sizeRangeSchema.optional(),
    age: ageRangeSchema.optional(),
    date: dateRangeSchema.optional(),
    flags: flagsTestSchema.optional(),
    labels: labelsTestSchema.optional(),
    autoReply: z.boolean().optional(),
    bulk: z.boolean().optional(),
    list: z.boolean().optional(),
    auth: authTestSchema.optional(),
    spam: spamTestSchema.optional(),
    bounce: z.boolean().optional(),
    complaint: z.boolean().optional(),
    get all() {
      return z.array(conditionSchema).optional();
    },
    get any() {
      return z.array(conditionSchema).optional();
    },
    get not() {
      return conditionSchema.optional();
    },
  })
  .superRefine((value, ctx) => {
    if (CONDITION_KEYS.every((key) => value[key] === undefined)) {
      ctx.addIssue({ code: 'custom', message: `expected a condition (one of ${CONDITION_KEYS.join(', ')})` });
    }
  })
  // A named definition in the JSON Schema export, since conditions nest.
  .meta({ id: 'RuleCondition' });

export type AttachmentTest = z.infer<typeof attachmentTestSchema>;
export type FlagsTest = z.infer<typeof flagsTestSchema>;
