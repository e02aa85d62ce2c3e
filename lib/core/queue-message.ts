/**
 * The queue message contract (DESIGN.md, "Queue message") as a zod schema,
 * the one source of it: `QueueMessage` in `lib/ports.ts` is inferred from
 * this. Whatever arrives from a queue is checked here before anything acts on
 * it.
 */
import * as z from 'zod';
import type { QueueMessage } from '../ports.ts';

const address = z.object({ name: z.string().optional(), address: z.string().optional() });

export const queueMessageSchema = z.object({
  v: z.literal(1),
  account: z.string().min(1),
  mailbox: z.string().min(1),
  uidValidity: z.number().int().positive(),
  uid: z.number().int().positive(),
  messageId: z.string().optional(),
  /** The server's INTERNALDATE as ISO 8601. */
  internalDate: z.string(),
  size: z.number().int().nonnegative(),
  flags: z.array(z.string()),
  envelope: z.object({
    subject: z.string().optional(),
    from: z.array(address),
    to: z.array(address),
    cc: z.array(address),
    /** The Date header as ISO 8601, when the message had a parseable one. */
    date: z.string().optional(),
  }),
  blob: z.object({ bucket: z.string().optional(), key: z.string().min(1) }),
  /**
   * Gmail only (a server with X-GM-EXT-1): X-GM-MSGID and X-GM-THRID as
   * decimal strings (64-bit, beyond a JSON number's precision) and the
   * message's labels (X-GM-LABELS, decoded; system labels such as `\Inbox` as Gmail spells them).
   */
  gmail: z
    .object({
      msgId: z.string().regex(/^\d{1,20}$/),
      threadId: z
        .string()
        .regex(/^\d{1,20}$/)
        .optional(),
      labels: z.array(z.string().max(1000)).max(500),
    })
    .optional(),
});

export type ParsedQueueMessage = { ok: true; message: QueueMessage } | { ok: false; problems: string[] };

export function parseQueueMessage(body: string): ParsedQueueMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, problems: ['body: not JSON'] };
  }
  const result = queueMessageSchema.safeParse(json);
  if (!result.success) {
    return {
      ok: false,
      problems: result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
    };
  }
  return { ok: true, message: result.data };
}
