/**
 * The `then:` actions of a rule (flags, folders, events, webhooks, saved
 * attachments, Gmail labels), one key per list item.
 */
import * as z from 'zod';
import { secretRefSchema } from '../config/secret-ref.ts';
import { flagListSchema, folderTargetSchema } from './folder-schema.ts';
import { labelListSchema } from './gmail-schema.ts';
import { emitObjectSchema } from './sender-schema.ts';

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

export type WebhookConfig = z.infer<typeof webhookSchema>;
export type RuleSecretRef = z.infer<typeof secretRefSchema>;
/** One `then:` item as parsed (exactly one key set). */
export type ActionConfig = z.infer<typeof actionSchema>;
