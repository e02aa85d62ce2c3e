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
import * as z from 'zod';
import { actionSchema } from './action-schema.ts';
import { conditionSchema } from './condition-schema.ts';
import { refineFolderName } from './folder-schema.ts';

// The schema is split by concern; everything stays importable from here.
export * from './action-schema.ts';
export * from './condition-schema.ts';
export * from './folder-schema.ts';
export * from './value-schema.ts';
export { CONDITION_KEYS, DURATION_PATTERN, SIZE_PATTERN, STRING_TEST_KEYS } from './vocabulary.ts';

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

/** A parsed rule (defaults applied). */
export type Rule = z.infer<typeof ruleSchema>;
/** A rule as written, before defaults. */
export type RuleConfigInput = z.input<typeof ruleSchema>;
