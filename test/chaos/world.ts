/**
 * One chaos trial's world: a fresh Dovecot user with a `Work` mailbox seeded
 * with known mail, a fault proxy in front of Dovecot's plain-IMAP port, a
 * webhook receiver, and a config file whose rules flag, copy, move, delete,
 * emit and call the webhook. Mail is arranged and inspected over direct
 * sessions (never through the proxy or the code under test).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { ImapFlow } from 'imapflow';
import { addDovecotUser, type DovecotInfo } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { type ConfigFile, writeConfigFile } from '../helpers/cli.ts';
import { openSetupClient } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

/** The mailbox every trial polls (INBOX cannot be deleted and recreated). */
export const MAILBOX = 'Work';
export const ARCHIVE = 'Archive';
export const MOVED = 'Moved';
export const TAG_FLAG = 'chaos';
/** Set by a rule on the body: proves content conditions were evaluated. */
export const PAYLOAD_FLAG = 'payload';
export const EVENT_TYPE = 'chaos.mail';
const WEBHOOK_SECRET = 'chaos-webhook-secret-not-a-real-one';

/** What the rules do to a seeded message, and so what the checks expect. */
export type MessageKind = 'keep' | 'move' | 'delete' | 'userDeleted';

export interface SeededMessage {
  messageId: string;
  kind: MessageKind;
  raw: Buffer;
  internalDate: Date;
  flags: string[];
  /** Whether its body matches the content rule (poison mail's content is "unknown"). */
  payload: boolean;
}

export interface World {
  user: { user: string; password: string };
  proxy: FaultProxy;
  webhook: WebhookServer;
  config: ConfigFile;
  seeded: SeededMessage[];
  /** The environment every `postroom` child gets. */
  env: Record<string, string>;
  /** A direct session (not through the proxy); log out when done. */
  client(): Promise<ImapFlow>;
  close(): Promise<void>;
}

export interface WorldOptions {
  info: DovecotInfo;
  /** Ordinary messages (a quarter each moved and deleted, two marked \Deleted by the user). */
  messages: number;
  /** Poison mail appended after the ordinary messages (kind `keep`). */
  poison?: { name: string; raw: Buffer }[];
  /** IMAP stall limit given to Postroom (`accounts[].limits.stallSeconds`). */
  stallSeconds: number;
  tag: string;
}

const RULES = (url: string) => [
  {
    name: 'tag',
    when: { size: { over: '1 B' } },
    then: [
      { flag: TAG_FLAG },
      { copy: ARCHIVE },
      { emit: EVENT_TYPE },
      { webhook: { url, secret: { env: 'POSTROOM_WEBHOOK_SECRET' }, timeoutMs: 5000, retries: 1 } },
    ],
  },
  // A body condition makes process parse every message (envelope-only rules never do).
  { name: 'scan', when: { body: 'chaos payload' }, then: [{ flag: PAYLOAD_FLAG }] },
  { name: 'mover', when: { subject: 'move-me' }, then: [{ move: MOVED }] },
  { name: 'trash', when: { subject: 'delete-me' }, then: [{ delete: true }] },
];

/** A plain text message with a known Message-ID and subject. */
export function chaosMessage(messageId: string, subject: string, bodyBytes = 600): Buffer {
  const body = `${'chaos payload line '.repeat(4)}\r\n`.repeat(Math.ceil(bodyBytes / 78));
  return Buffer.from(
    `From: Chaos <chaos@sender.example>\r\nTo: me@home.example\r\nSubject: ${subject}\r\n` +
      `Message-ID: ${messageId}\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n\r\n${body}`,
  );
}

function kindOf(i: number, count: number): MessageKind {
  if (i === 1 || i === count - 2) return 'userDeleted';
  if (i % 4 === 2) return 'move';
  if (i % 4 === 3) return 'delete';
  return 'keep';
}

export async function createWorld(options: WorldOptions): Promise<World> {
  const { info } = options;
  const user = {
    user: `chaos-${options.tag}-${randomBytes(4).toString('hex')}`.toLowerCase(),
    password: randomBytes(12).toString('base64url'),
  };
  addDovecotUser(info, user.user, user.password);
  const base = Date.UTC(2026, 10, 1, 8, 0, 0);
  const seeded: SeededMessage[] = [];
  for (let i = 0; i < options.messages; i++) {
    const kind = kindOf(i, options.messages);
    const messageId = `<${options.tag}-${i}.${randomBytes(3).toString('hex')}@chaos.example>`;
    const subject =
      kind === 'move' ? `chaos ${i} move-me` : kind === 'delete' ? `chaos ${i} delete-me` : `chaos ${i}`;
    seeded.push({
      messageId,
      kind,
      raw: chaosMessage(messageId, subject, 400 + ((i * 137) % 1500)),
      internalDate: new Date(base + i * 60_000),
      flags: kind === 'userDeleted' ? ['\\Deleted'] : [],
      payload: true,
    });
  }
  for (const [i, poison] of (options.poison ?? []).entries()) {
    const match = /^Message-ID:\s*(<[^>]+>)/im.exec(poison.raw.subarray(0, 4096).toString('latin1'));
    if (!match) throw new Error(`poison ${poison.name} has no Message-ID header`);
    seeded.push({
      messageId: match[1]!,
      kind: 'keep',
      raw: poison.raw,
      internalDate: new Date(base + (options.messages + i) * 60_000),
      flags: [],
      payload: false,
    });
  }

  const client = () => openSetupClient(info, user);
  const setup = await client();
  try {
    for (const name of [MAILBOX, ARCHIVE, MOVED]) await setup.mailboxCreate(name);
    for (const m of seeded) await setup.append(MAILBOX, m.raw, m.flags, m.internalDate);
  } finally {
    await setup.logout().catch(() => setup.close());
  }

  const proxy = await startFaultProxy({ host: info.host, port: info.ports.full.imap });
  const webhook = await startWebhookServer({ secret: WEBHOOK_SECRET });
  const config = writeConfigFile(
    {
      accounts: [
        {
          id: 'chaos',
          host: proxy.host,
          port: proxy.port,
          tls: false,
          auth: { user: user.user, password: { env: 'POSTROOM_TEST_PASSWORD' } },
          mailboxes: [MAILBOX],
          start: 'all',
          schedule: 'rate(1 minute)',
          idle: false,
          limits: { stallSeconds: options.stallSeconds },
        },
      ],
      rules: RULES(webhook.url),
    },
    'postroom-chaos-',
  );
  return {
    user,
    proxy,
    webhook,
    config,
    seeded,
    env: { POSTROOM_TEST_PASSWORD: user.password, POSTROOM_WEBHOOK_SECRET: WEBHOOK_SECRET },
    client,
    close: async () => {
      await Promise.allSettled([proxy.close(), webhook.close()]);
      rmSync(config.dir, { recursive: true, force: true });
    },
  };
}

/**
 * Deletes and recreates `Work` with the same messages, flags and internal
 * dates, so only the UIDVALIDITY changes (Dovecot derives it from the clock:
 * retried until it differs). Returns the old and new UIDVALIDITY.
 */
export async function recreateMailbox(world: World): Promise<{ before: number; after: number }> {
  const c = await world.client();
  try {
    const before = await uidValidityOf(c);
    const saved: { raw: Buffer; flags: string[]; internalDate: Date }[] = [];
    const lock = await c.getMailboxLock(MAILBOX, { readOnly: true });
    try {
      if ((c.mailbox ? c.mailbox.exists : 0) > 0) {
        for await (const m of c.fetch(
          '1:*',
          { uid: true, flags: true, internalDate: true, source: true },
          { uid: true },
        )) {
          saved.push({
            raw: m.source!,
            flags: [...(m.flags ?? [])].filter((f) => f !== '\\Recent'),
            internalDate: new Date(m.internalDate!),
          });
        }
      }
    } finally {
      lock.release();
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      await c.mailboxDelete(MAILBOX);
      await c.mailboxCreate(MAILBOX);
      const after = await uidValidityOf(c);
      if (after !== before) {
        for (const m of saved) await c.append(MAILBOX, m.raw, m.flags, m.internalDate);
        return { before, after };
      }
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    throw new Error('Dovecot kept the same UIDVALIDITY after 5 recreations');
  } finally {
    await c.logout().catch(() => c.close());
  }
}

async function uidValidityOf(c: ImapFlow): Promise<number> {
  const status = await c.status(MAILBOX, { uidValidity: true });
  if (!status) throw new Error(`STATUS ${MAILBOX} failed`);
  return Number(status.uidValidity);
}
