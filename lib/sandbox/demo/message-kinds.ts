/**
 * What a demo message is and whom the demo mail is addressed to: the shared
 * vocabulary of the builders, the drafts and the catalogue, in a leaf module so
 * none of them imports another in a cycle.
 */

/** What a demo message is, so the tests and the output can say what should happen to it. */
export type DemoKind = 'invoice' | 'alert' | 'newsletter' | 'personal' | 'prize' | 'bounce' | 'auto-reply';

/** One message of the demo mailbox. */
export interface DemoMessage {
  kind: DemoKind;
  /** The decoded subject, as a mail client shows it. */
  subject: string;
  /** `<...>`, unique within the demo set. */
  messageId: string;
  /** The Date header, also used as the INTERNALDATE on APPEND. */
  date: Date;
  /** The raw message, CRLF line ends, 7-bit. */
  raw: Buffer;
}

/** The demo account's address, as the messages name it. */
export const DEMO_ADDRESS = 'demo@postroom.example';
export const DEMO_RECIPIENT = `Demo User <${DEMO_ADDRESS}>`;
/** The vendor whose PDF invoices the `invoices` rule picks out (as in examples/postroom.example.yaml). */
export const DEMO_VENDOR_DOMAIN = 'acme.example';
