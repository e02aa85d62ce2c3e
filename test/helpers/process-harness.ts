/**
 * The whole pipeline for the rules-and-consumers suites: a fresh Dovecot user,
 * the real composition root (`openRuntime`) with the local stand-ins (a folder
 * and SQLite), the real poller and the real local driver
 * (`drainQueue`, which calls `processBatch`). Tests APPEND mail, poll,
 * drain, and then look at the server through a separate setup session and at
 * `<store dir>/events.jsonl`, never through the adapter under test.
 */

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';
import { afterEach } from 'vitest';
import type { SqliteQueue } from '#lib/adapters/local/sqlite-queue.ts';
import { openRuntime, type Runtime } from '#lib/composition/open-runtime.ts';
import { type AccountConfig, configSchema, type PostroomConfig } from '#lib/config/schema.ts';
import { drainQueue } from '#lib/core/drain.ts';
import { type PollResult, pollAccount } from '#lib/core/poll.ts';
import { type BatchItem, type ProcessOptions, type ProcessResult, processBatch } from '#lib/core/process.ts';
import type { Logger, PostroomEvent, ReceivedMessage } from '#lib/ports.ts';
import {
  type AppendInput,
  appendMessages,
  createMailbox,
  dovecotInfo,
  freshUser,
  getFlags,
  listMailboxes,
  listUids,
  type TestUser,
  testAccount,
  withSetupClient,
} from './dovecot.ts';
import { assertValidEvent } from './event-schema.ts';
import { type ImapProxy, startImapProxy } from './imap-proxy.ts';

/** The webhook secret every harness puts in `POSTROOM_WEBHOOK_SECRET`. */
export const WEBHOOK_SECRET = 'test-webhook-secret-not-a-real-one';

export type Variant = 'full' | 'noMove' | 'noUidplus';

export interface ProcessHarnessOptions {
  /** The `rules:` list as users write it (validated by the config schema). */
  rules: unknown[];
  /** @default full */
  variant?: Variant;
  /** Put a counting proxy between Postroom and Dovecot (setup sessions bypass it). */
  proxy?: boolean;
  /** The account id (rules may be scoped to it). @default test */
  accountId?: string;
  /** Mailboxes the account polls. @default ['INBOX'] */
  mailboxes?: string[];
  /** Receives before the local queue dead-letters a message. @default 5 */
  maxReceives?: number;
  /** The `events:` section as users write it. */
  events?: unknown;
  /** Account settings on top of the test account's (e.g. `authservId`). */
  accountSettings?: Partial<AccountConfig>;
}

/** A log line the harness captured. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes?: Record<string, unknown>;
}

export interface ProcessHarness {
  user: TestUser;
  account: AccountConfig;
  config: PostroomConfig;
  runtime: Runtime;
  /** The counting proxy, when asked for. */
  proxy?: ImapProxy;
  /** Everything the runtime logged. */
  logs: LogLine[];
  /** APPENDs (through a setup session) and returns the UIDs. `mailbox` is created if needed. */
  append(messages: AppendInput[], mailbox?: string): Promise<number[]>;
  /** One poll of every configured mailbox, with the real poller. */
  poll(): Promise<PollResult>;
  /**
   * One run of the local driver (`postroom process`): receive, `processBatch`,
   * ack or release, until nothing visible is left. Returns every batch result.
   */
  drain(batchSize?: number): Promise<ProcessResult[]>;
  /** Receives up to `max` visible queue messages as batch items (for driving `processBatch` by hand). */
  receive(max?: number): Promise<{ items: BatchItem[]; received: ReceivedMessage[] }>;
  /** `processBatch` with the runtime's dependencies, optionally overridden, and its options (a deadline). */
  process(
    items: BatchItem[],
    overrides?: Partial<ReturnType<Runtime['processDependencies']>>,
    options?: ProcessOptions,
  ): Promise<ProcessResult>;
  /** Every event written to `<store dir>/events.jsonl` so far. */
  events(): PostroomEvent[];
  /** Flags of every message in a mailbox (server names, `/`-separated here). */
  flags(mailbox?: string): Promise<Map<number, string[]>>;
  uids(mailbox?: string): Promise<number[]>;
  mailboxes(): Promise<string[]>;
  /** Runs `fn` with a plain setup session on the full variant. */
  withClient<T>(fn: (client: ImapFlow) => Promise<T>): Promise<T>;
  /** Removes a blob from the local store (a message whose raw copy is lost). */
  deleteBlob(key: string): Promise<void>;
  /** The local queue's SQLite adapter (stats, dead letters). */
  queue: SqliteQueue;
  close(): Promise<void>;
}

/** A logger that keeps every line for assertions (nothing is printed). */
export function capturingLogger(lines: LogLine[]): Logger {
  const at =
    (level: LogLine['level']) =>
    (message: string, attributes?: Record<string, unknown>): void => {
      lines.push({ level, message, ...(attributes ? { attributes } : {}) });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export async function createProcessHarness(options: ProcessHarnessOptions): Promise<ProcessHarness> {
  const info = dovecotInfo();
  const variant = options.variant ?? 'full';
  const user = freshUser(info, 'p');
  const upstream = info.ports[variant];
  if (!upstream) throw new Error(`the private Dovecot was started without the ${variant} variant`);
  const proxy = options.proxy ? await startImapProxy({ host: info.host, port: upstream.imap }) : undefined;
  const account = testAccount(info, user, {
    tls: false,
    variant,
    id: options.accountId ?? 'test',
    mailboxes: options.mailboxes ?? ['INBOX'],
    ...(proxy ? { host: proxy.host, port: proxy.port } : {}),
  });
  const dir = mkdtempSync(join(tmpdir(), 'postroom-process-'));
  const config = configSchema.parse({
    accounts: [],
    store: { kind: 'local', dir },
    rules: options.rules,
    ...(options.events !== undefined ? { events: options.events } : {}),
    ...(options.maxReceives ? { aws: { processor: { maxReceives: options.maxReceives } } } : {}),
  });
  // The account is already parsed (testAccount returns the output type): added after validation.
  config.accounts.push(Object.assign(account, options.accountSettings));
  const logs: LogLine[] = [];
  const runtime = await openRuntime(config, {
    logger: capturingLogger(logs),
    env: {
      ...process.env,
      POSTROOM_TEST_PASSWORD: user.password,
      POSTROOM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    },
  });
  const eventsFile = runtime.stores.eventsFile!;
  const withClient = <T>(fn: (client: ImapFlow) => Promise<T>) => withSetupClient(info, user, fn);

  return {
    user,
    account,
    config,
    runtime,
    ...(proxy ? { proxy } : {}),
    logs,
    queue: runtime.stores.consumer as unknown as SqliteQueue,
    append: (messages, mailbox = 'INBOX') =>
      withClient(async (client) => {
        if (mailbox !== 'INBOX') await createMailbox(client, mailbox);
        return appendMessages(client, mailbox, messages);
      }),
    poll: () =>
      pollAccount(runtime.pollDependencies(`test-${user.user}`), {
        account,
        ingest: config.ingest,
      }),
    drain: async (batchSize) => {
      const results: ProcessResult[] = [];
      await drainQueue(runtime.drainDependencies(), {
        ...(batchSize !== undefined ? { batchSize } : {}),
        onBatch: (result) => results.push(result),
      });
      return results;
    },
    receive: async (max = 100) => {
      const received = await runtime.stores.consumer!.receive(max, 60_000);
      return {
        received,
        items: received.map((r) => ({ id: r.receipt, message: r.body, receiveCount: r.receiveCount })),
      };
    },
    process: (items, overrides = {}, options = {}) =>
      processBatch({ ...runtime.processDependencies(), ...overrides }, items, options),
    events: () =>
      existsSync(eventsFile)
        ? readFileSync(eventsFile, 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => {
              // Every event an integration test sees matches the published schema.
              const event = JSON.parse(line) as PostroomEvent;
              assertValidEvent(event);
              return event;
            })
        : [],
    flags: (mailbox = 'INBOX') => withClient((client) => getFlags(client, mailbox)),
    uids: (mailbox = 'INBOX') => withClient((client) => listUids(client, mailbox)),
    mailboxes: () => withClient((client) => listMailboxes(client)),
    withClient,
    deleteBlob: (key) => rm(join(dir, key)),
    close: async () => {
      await runtime.close();
      await proxy?.close();
    },
  };
}

/** Every action of every item of the results, flattened (for `toContainEqual`). */
export function allActions(results: ProcessResult[]) {
  return results.flatMap((r) => r.items.flatMap((i) => i.actions.map((a) => ({ uid: i.uid, ...a }))));
}

/** The items of the results, by UID. */
export function itemsByUid(results: ProcessResult[]) {
  return new Map(results.flatMap((r) => r.items.map((i) => [i.uid, i] as const)));
}

/** Reads a rules fixture (`test/fixtures/rules/<name>`). */
export function ruleFixture(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/rules/${name}`, import.meta.url));
}

/** Multipart nested far deeper than the MIME parser allows: it gives up on the structure. */
export function unparseableMessage(): Buffer {
  const nesting = Array.from(
    { length: 3000 },
    (_, i) => `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`,
  ).join('');
  return Buffer.from(
    `From: Deep <deep@nest.example>\r\nTo: me@home.example\r\nSubject: Deeply nested\r\nMessage-ID: <deep@nest.example>\r\n${nesting}x\r\n`,
  );
}

/**
 * Registers an afterEach that closes every harness the returned function
 * opened, so each test file gets fresh harnesses without its own cleanup code.
 */
export function trackedHarnesses(): (
  options: Parameters<typeof createProcessHarness>[0],
) => Promise<ProcessHarness> {
  const open: ProcessHarness[] = [];
  afterEach(async () => {
    for (const harness of open.splice(0)) await harness.close();
  });
  return async (options) => {
    const harness = await createProcessHarness(options);
    open.push(harness);
    return harness;
  };
}
