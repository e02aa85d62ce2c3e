/**
 * The rule language: what a user writes under `rules:` in the config.
 *
 * A rule says *when* (a condition on the message) and *then* (actions):
 *
 * ```yaml
 * - name: invoices
 *   when:
 *     all:
 *       - from: { domain: acme.example }
 *       - attachment: { name: { matches: "*.pdf" } }
 *   then:
 *     - move: Finance/Invoices
 *     - emit: invoice.received
 *   stop: true
 * ```
 *
 * Every object is strict (an unknown key is an error, it is usually a typo),
 * and regular expressions are compiled at config time with RE2 semantics
 * (re2js), so a bad pattern is reported as
 * `rules[0] (name).when.subject.regex: invalid regular expression: ...` before any mail
 * is read. The schema holds plain data only (no transforms), so the parsed rules
 * stay JSON and the JSON Schema export describes exactly what users write.
 *
 * Conditions:
 * - `from`, `to`, `cc`, `recipient` (any of To, Cc, Bcc, Delivered-To): an
 *   {@link AddressTest}. The string tests look at the address (`local@domain`),
 *   never the display name, which the sender chooses freely (a display name of
 *   `ceo@example.com` is a classic spoof); `name:` tests the display name,
 *   `domain:` the domain (that domain or any subdomain, IDN-aware).
 * - `subject`, `body` (the text part, or the HTML reduced to text): a {@link StringTest}.
 * - `header: { name, ...StringTest }`: any occurrence of that header, decoded.
 * - `attachment`: `true`/`false` (has one), or `{ name?, type?, size? }` (one
 *   attachment satisfies all of them).
 * - `size: { over?, under? }`: RFC822.SIZE, with units (`10MB`, `"500 KB"`; K = 1024, as in Sieve).
 * - `age: { over?, under? }`: durations such as `30d`, `12h`, `2w`.
 * - `date: { before?, after? }`: ISO dates or date-times; `before` is strictly
 *   earlier, `after` is on or after (IMAP BEFORE/SINCE semantics). A date alone
 *   means midnight UTC. `age` and `date` use the server's internal date (the
 *   arrival time, which the sender cannot forge), or the Date header when there is none.
 * - `flags: { has?, lacks? }`: IMAP flags, compared case-insensitively.
 * - `labels: { has?, lacks? }`: Gmail labels (X-GM-LABELS), compared
 *   case-insensitively; unknown on servers without Gmail's extensions.
 * - `autoReply`, `bulk`, `list`: `true`/`false` predicates on Auto-Submitted /
 *   X-Autoreply, Precedence, List-Id.
 * - `auth`, `spam`, `bounce`, `complaint`: who really sent it and what kind of
 *   machine mail it is (see `sender-schema.ts`).
 * - `all: [...]`, `any: [...]`, `not: {...}`. Several keys in one condition object must all hold.
 *
 * String tests (a bare string means `contains`): `is`, `contains`, `matches`
 * (Sieve wildcards `*` and `?`, `\` escapes), `regex` (RE2, searched anywhere),
 * `exists`. Each of `is`/`contains`/`matches`/`regex` takes one value or a list
 * (any may match). All are case-insensitive unless `caseSensitive: true`.
 *
 * Actions: `flag`, `unflag`, `copy`, `move`, `delete: true`, `emit`, `webhook`,
 * `saveAttachments`, `stop: true`, and on Gmail `label` / `unlabel`. See `planner.ts` for how the actions of
 * several matching rules combine.
 */
import { RE2JS } from 're2js';
import * as z from 'zod';
import { secretRefSchema } from '../config/secret-ref.ts';
import { type LabelsTest, labelListSchema, labelsTestSchema } from './gmail-schema.ts';
import {
  type AuthTest,
  authTestSchema,
  emitObjectSchema,
  type SpamTest,
  spamTestSchema,
} from './sender-schema.ts';
import { explainRegexError } from './string-match.ts';
import { CONDITION_KEYS, DURATION_PATTERN, SIZE_PATTERN, STRING_TEST_KEYS } from './vocabulary.ts';

export { CONDITION_KEYS, DURATION_PATTERN, SIZE_PATTERN, STRING_TEST_KEYS } from './vocabulary.ts';

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

function atLeastOne<T extends Record<string, unknown>>(keys: ReadonlyArray<keyof T & string>) {
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

// ---------------------------------------------------------------------------
// Flags and folders

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;

/**
 * A system flag (RFC 3501: `\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`;
 * `\Recent` is server-managed and cannot be set) or a keyword: an IMAP atom, so no
 * spaces, parentheses, braces, quotes, `%`, `*`, `]` or backslashes.
 */
export const flagSchema = z.string().superRefine((flag, ctx) => {
  if (flag.startsWith('\\')) {
    if (!SYSTEM_FLAGS.some((known) => known.toLowerCase() === flag.toLowerCase())) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown system flag ${flag} (expected one of ${SYSTEM_FLAGS.join(', ')}, or a keyword without \\)`,
      });
    }
  } else if (!/^[\x21-\x7e]+$/.test(flag) || /[(){%*"\]\\]/.test(flag)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a keyword of printable ASCII without spaces or any of ( ) { % * " ] \\',
    });
  }
});

const flagListSchema = z.union([flagSchema, z.array(flagSchema).min(1, 'expected at least one flag')], {
  error: 'expected a flag or a list of flags',
});

/** RFC 6154 special-use attributes a target may name instead of a folder. */
export const SPECIAL_USES = [
  '\\All',
  '\\Archive',
  '\\Drafts',
  '\\Flagged',
  '\\Junk',
  '\\Sent',
  '\\Trash',
] as const;
export type SpecialUse = (typeof SPECIAL_USES)[number];

/**
 * Why a logical folder or mailbox name cannot go to the server, or undefined.
 * Control characters (CR and LF would end the IMAP command line), `.` and `..`
 * levels, and LIST wildcards (`*`, `%`: a name must name one folder, not a
 * pattern) are refused.
 */
export function folderNameProblem(name: string): string | undefined {
  const control = [...name].find((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (control !== undefined) {
    const code = control.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    return `a folder name may not contain control characters (U+00${code} in ${JSON.stringify(name)})`;
  }
  if (name.split('/').some((part) => part.trim() === '..' || part.trim() === '.')) {
    return `a folder name may not have a "." or ".." level (in "${name}")`;
  }
  if (/[*%]/.test(name)) {
    return `a folder name may not contain the LIST wildcards * and % (in "${name}")`;
  }
  return undefined;
}

/** A zod refinement reporting {@link folderNameProblem} as an issue at the name's path. */
export function refineFolderName(name: string, ctx: z.RefinementCtx): void {
  const problem = folderNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

/** A logical folder name, `/` between levels (mapped to the server's namespace and delimiter later). */
export const folderNameSchema = z
  .string({ error: 'expected a folder name' })
  .trim()
  .min(1, 'expected a folder name, not an empty one')
  .superRefine((name, ctx) => {
    if (name !== '' && name.split('/').some((part) => part.trim() === '')) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a folder name such as Finance/Invoices (no empty level in "${name}")`,
      });
      return;
    }
    refineFolderName(name, ctx);
  });

/** `Finance/Invoices`, or `{ specialUse: "\\Junk" }` resolved from the server's LIST. */
export const folderTargetSchema = z.union(
  [folderNameSchema, z.strictObject({ specialUse: z.enum(SPECIAL_USES) })],
  { error: 'expected a folder name or { specialUse: \\Junk | \\Trash | \\Archive | ... }' },
);

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

// ---------------------------------------------------------------------------
// Actions

/** True for hosts that never leave the machine, where plain http cannot be sniffed on the way. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const webhookUrlSchema = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an absolute URL such as https://hooks.example/mail' });
    return;
  }
  const ok = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!ok) {
    // The payload describes private mail and the signature alone does not hide it.
    ctx.addIssue({
      code: 'custom',
      message: 'expected an https:// URL (http:// only for loopback hosts: 127.0.0.0/8, ::1, localhost)',
    });
  }
  if (url.username !== '' || url.password !== '') {
    ctx.addIssue({ code: 'custom', message: 'credentials do not belong in the URL; use secret' });
  }
});

export const webhookSchema = z.strictObject({
  url: webhookUrlSchema,
  /** Key for the HMAC-SHA256 signature header. */
  secret: secretRefSchema,
  /** Per attempt. @default 10000 */
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Further attempts after a failure, with exponential backoff. @default 3 */
  retries: z.number().int().min(0).max(10).default(3),
});

/** A blob key prefix such as `attachments/invoices/`: relative, no `.`/`..` or empty levels. */
export const blobPrefixSchema = z
  .string({ error: 'expected a key prefix such as attachments/invoices/' })
  .min(1, 'expected a key prefix such as attachments/invoices/')
  .max(512)
  .superRefine((prefix, ctx) => {
    const parts = prefix.replace(/\/$/, '').split('/');
    if (prefix.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..')) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected a relative prefix without empty, "." or ".." levels',
      });
    } else if (/[\p{Cc}\\]/u.test(prefix)) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected a prefix without control characters or backslashes',
      });
    }
  });

export const ACTION_KEYS = [
  'flag',
  'unflag',
  'copy',
  'move',
  'delete',
  'emit',
  'webhook',
  'saveAttachments',
  'stop',
  'label',
  'unlabel',
] as const;

export const actionSchema = z
  .strictObject({
    /** Add flags (system flags and keywords). */
    flag: flagListSchema.optional(),
    /** Remove flags. */
    unflag: flagListSchema.optional(),
    /** Copy to a folder (created if missing). */
    copy: folderTargetSchema.optional(),
    /** Move to a folder (created if missing). A second move of the same message acts as a copy. */
    move: folderTargetSchema.optional(),
    /** `\Deleted` + `UID EXPUNGE` of this UID only. */
    delete: z.literal(true, { error: 'expected true' }).optional(),
    /** Emit an event with this detail-type, or `{ detailType, detail?, textMaxBytes? }`. */
    emit: z
      .union(
        [
          z
            .string({ error: 'expected an event detail-type such as invoice.received' })
            .trim()
            .min(1, 'expected an event detail-type such as invoice.received')
            .max(128, 'expected at most 128 characters (EventBridge detail-type)'),
          emitObjectSchema,
        ],
        { error: 'expected an event detail-type such as invoice.received, or { detailType, detail? }' },
      )
      .optional(),
    /** A signed JSON POST. */
    webhook: webhookSchema.optional(),
    /** Store the attachments in the blob store under this prefix. */
    saveAttachments: z.strictObject({ prefix: blobPrefixSchema }).optional(),
    /** Later rules don't see the message (same as the rule's `stop: true`). */
    stop: z.literal(true, { error: 'expected true' }).optional(),
    /** Gmail: add labels (`UID STORE +X-GM-LABELS`). */
    label: labelListSchema.optional(),
    /** Gmail: remove labels (`UID STORE -X-GM-LABELS`); removing `\Inbox` archives. */
    unlabel: labelListSchema.optional(),
  })
  .superRefine((value, ctx) => {
    const given = ACTION_KEYS.filter((key) => value[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          given.length === 0
            ? `expected an action (one of ${ACTION_KEYS.join(', ')})`
            : `expected one action per list item, found ${given.join(' and ')}`,
      });
    }
  });

// ---------------------------------------------------------------------------
// Rules

export const ruleSchema = z.strictObject({
  /** Unique; names the rule in events, logs and idempotency keys. */
  name: z
    .string({ error: 'expected a rule name' })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'expected a name of letters, digits, ".", "_" and "-" (at most 64)',
    ),
  description: z.string().optional(),
  /** @default true */
  enabled: z.boolean().default(true),
  /** Only for these account ids (all accounts when absent). */
  accounts: z.array(z.string().min(1)).min(1, 'expected at least one account id').optional(),
  /** Only for these logical mailbox names (all when absent; INBOX in any case). */
  mailboxes: z
    .array(z.string().trim().min(1).superRefine(refineFolderName))
    .min(1, 'expected at least one mailbox')
    .optional(),
  /** The condition; without one the rule applies to every message. */
  when: conditionSchema.optional(),
  // `then` is the rule language's word (an array is never a thenable; the lint rule is off).
  then: z.array(actionSchema).min(1, 'expected at least one action'),
  /** Later rules don't see a message this rule matched. @default false */
  stop: z.boolean().default(false),
});

/** The `rules:` list. Names must be unique. */
export const rulesSchema = z.array(ruleSchema).superRefine((rules, ctx) => {
  const seen = new Map<string, number>();
  rules.forEach((rule, index) => {
    const first = seen.get(rule.name);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [index, 'name'],
        message: `duplicate rule name "${rule.name}" (also rules[${first}])`,
      });
    } else {
      seen.set(rule.name, index);
    }
  });
});

export type StringTest = z.infer<typeof stringTestSchema>;
export type AddressTest = z.infer<typeof addressTestSchema>;
export type HeaderTest = z.infer<typeof headerTestSchema>;
export type AttachmentTest = z.infer<typeof attachmentTestSchema>;
export type SizeRange = z.infer<typeof sizeRangeSchema>;
export type AgeRange = z.infer<typeof ageRangeSchema>;
export type DateRange = z.infer<typeof dateRangeSchema>;
export type FlagsTest = z.infer<typeof flagsTestSchema>;
export type FolderTargetConfig = z.infer<typeof folderTargetSchema>;
export type WebhookConfig = z.infer<typeof webhookSchema>;
export type RuleSecretRef = z.infer<typeof secretRefSchema>;
/** One `then:` item as parsed (exactly one key set). */
export type ActionConfig = z.infer<typeof actionSchema>;
/** A parsed rule (defaults applied). */
export type Rule = z.infer<typeof ruleSchema>;
/** A rule as written, before defaults. */
export type RuleConfigInput = z.input<typeof ruleSchema>;
