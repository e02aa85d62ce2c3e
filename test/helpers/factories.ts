/** Factories for test data shared by several suites (PT's tests/helpers/factories.ts pattern). */
import type { QueueMessage } from '#lib/ports.ts';

/** A complete queue message (the DESIGN.md contract) for `uid`, with any field overridden. */
export function queueMessage(uid: number, overrides: Partial<QueueMessage> = {}): QueueMessage {
  return {
    v: 1,
    account: 'acme',
    mailbox: 'INBOX',
    uidValidity: 1700000000,
    uid,
    messageId: `<m${uid}@example.com>`,
    internalDate: '2026-01-31T10:00:00.000Z',
    size: 1234,
    flags: ['\\Seen'],
    envelope: {
      subject: `Invoice ${uid}`,
      from: [{ name: 'Billing', address: 'billing@example.com' }],
      to: [{ address: 'me@example.com' }],
      cc: [],
      date: '2026-01-31T09:59:00.000Z',
    },
    blob: { bucket: 'postroom-raw', key: `raw/acme/INBOX/1700000000/${uid}.eml` },
    ...overrides,
  };
}
