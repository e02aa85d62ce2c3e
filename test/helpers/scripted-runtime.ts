/**
 * The real composition root (`openRuntime`, local store in a temp folder)
 * over one account on a scripted in-process server (`gmail-imap-server.ts`):
 * the real poller and the real local driver, as `process-harness.ts` does
 * for Dovecot.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openRuntime, type Runtime } from '#lib/composition/open-runtime.ts';
import { type AccountConfig, configSchema, type PostroomConfig } from '#lib/config/schema.ts';
import { drainQueue } from '#lib/core/drain.ts';
import { type PollResult, pollAccount } from '#lib/core/poll.ts';
import type { ProcessResult } from '#lib/core/process.ts';
import type { PostroomEvent, QueueMessage } from '#lib/ports.ts';
import { capturingLogger, type LogLine } from './process-harness.ts';

export interface ScriptedRuntime {
  account: AccountConfig;
  config: PostroomConfig;
  runtime: Runtime;
  logs: LogLine[];
  poll(): Promise<PollResult>;
  /** Queue messages waiting (read without receiving them). */
  queued(): QueueMessage[];
  drain(): Promise<ProcessResult[]>;
  events(): PostroomEvent[];
  close(): void;
}

export async function scriptedRuntime(options: {
  port: number;
  /** Extra account keys (`provider`, `mailboxes`). */
  account?: Record<string, unknown>;
  rules?: unknown[];
}): Promise<ScriptedRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'postroom-scripted-'));
  const config = configSchema.parse({
    store: { kind: 'local', dir },
    accounts: [
      {
        id: 'scripted',
        host: '127.0.0.1',
        port: options.port,
        tls: false,
        auth: { user: 'support@postroom.test', password: { env: 'SCRIPTED_PASSWORD' } },
        start: 'all',
        ...options.account,
      },
    ],
    rules: options.rules ?? [],
  });
  const logs: LogLine[] = [];
  const runtime = await openRuntime(config, {
    logger: capturingLogger(logs),
    env: { ...process.env, SCRIPTED_PASSWORD: 'scripted-pass' },
  });
  const account = config.accounts[0]!;
  const eventsFile = runtime.stores.eventsFile!;
  return {
    account,
    config,
    runtime,
    logs,
    poll: () => pollAccount(runtime.pollDependencies('scripted-test'), { account, ingest: config.ingest }),
    queued: () => {
      const db = new Database(join(dir, 'postroom.db'), { readonly: true });
      try {
        return db
          .prepare('SELECT body FROM queue_messages ORDER BY id')
          .pluck()
          .all()
          .map((body) => JSON.parse(String(body)) as QueueMessage);
      } finally {
        db.close();
      }
    },
    drain: async () => {
      const results: ProcessResult[] = [];
      await drainQueue(runtime.drainDependencies(), { onBatch: (result) => results.push(result) });
      return results;
    },
    events: () =>
      existsSync(eventsFile)
        ? readFileSync(eventsFile, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as PostroomEvent)
        : [],
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
