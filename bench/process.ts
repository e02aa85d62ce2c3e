/**
 * `npm run bench:process`: the consumer side against a private Dovecot.
 *
 *   1. 1,000 queued messages and 100 rules, processed with the local stand-ins: messages/s.
 *   2. The IMAP commands sent for a 10-message batch that all move to one folder
 *      (counted by a proxy; target: at most 2 after SELECT).
 *   3. Rule evaluation per message with 1,000 rules, and a `regex` rule over 1, 2
 *      and 5 MB bodies (bench/rules.ts, run after this).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { configSchema } from '#lib/config/schema.ts';
import { drainQueue } from '#lib/core/drain.ts';
import { pollAccount } from '#lib/core/poll.ts';
import { silentLogger } from '#lib/ports.ts';
import {
  addDovecotUser,
  type PrivateDovecot,
  startPrivateDovecot,
} from '#lib/sandbox/dovecot/private-dovecot.ts';
import { attachmentMessage, htmlMessage, textMessage } from '../test/fixtures/messages.ts';
import { openSetupClient } from '../test/helpers/dovecot.ts';
import { startImapProxy } from '../test/helpers/imap-proxy.ts';

const PASSWORD = 'bench-password-2';

function hundredRules() {
  const rules: Record<string, unknown>[] = [];
  // 95 rules that look at the envelope or headers and mostly do not match...
  for (let i = 0; i < 95; i++) {
    const when =
      i % 3 === 0
        ? { from: { domain: `vendor-${i}.example` } }
        : i % 3 === 1
          ? { subject: { contains: `[ticket-${i}]` } }
          : { header: { name: 'X-Campaign', is: `c-${i}` } };
    rules.push({ name: `noise-${i}`, when, then: [{ flag: [`kw${i}`] }] });
  }
  // ...and 5 that do, with server-side and outward actions.
  rules.push({
    name: 'html-newsletters',
    when: { body: { contains: 'unsubscribe' } },
    then: [{ flag: ['\\Seen'] }],
  });
  rules.push({
    name: 'attachments',
    when: { attachment: { name: { matches: '*.pdf' } } },
    then: [{ copy: 'Archive/Attachments' }, { emit: 'attachment.received' }],
  });
  rules.push({
    name: 'every-tenth',
    when: { subject: { regex: '[0-9]*0$' } },
    then: [{ flag: ['\\Flagged'] }],
  });
  rules.push({ name: 'large', when: { size: { over: '500 KB' } }, then: [{ move: 'Large' }] });
  rules.push({ name: 'all', when: { size: { over: '1 B' } }, then: [{ emit: 'mail.received' }] });
  return rules;
}

function client(dovecot: PrivateDovecot, user: string): Promise<ImapFlow> {
  return openSetupClient(dovecot, { user, password: PASSWORD });
}

async function main(): Promise<void> {
  const dovecot = await startPrivateDovecot();
  const host = dovecot.host;
  const port = dovecot.ports.full.imap;
  try {
    // 1. Throughput.
    addDovecotUser(dovecot, 'proc', PASSWORD);
    const seeder = await client(dovecot, 'proc');
    for (let i = 0; i < 1000; i++) {
      const raw =
        i % 20 === 19
          ? attachmentMessage(i, 600 * 1024, { namespace: 'proc' })
          : i % 4 === 1
            ? htmlMessage(i, { namespace: 'proc' })
            : textMessage(i, { namespace: 'proc' });
      await seeder.append('INBOX', raw);
    }
    await seeder.logout();
    const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-process-'));
    const config = configSchema.parse({
      accounts: [
        {
          id: 'proc',
          host,
          port,
          tls: false,
          auth: { user: 'proc', password: { env: 'BENCH_PASSWORD' } },
          start: 'all',
        },
      ],
      store: { kind: 'local', dir },
      rules: hundredRules(),
    });
    const runtime = await openRuntime(config, { logger: silentLogger, env: { BENCH_PASSWORD: PASSWORD } });
    const polled = await pollAccount(runtime.pollDependencies(), {
      account: config.accounts[0]!,
      ingest: config.ingest,
    });
    const started = performance.now();
    const summary = await drainQueue(runtime.drainDependencies(), { batchSize: 100 });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `1. processed ${summary.processed} of ${polled.fetched} queued messages with ${config.rules.length} rules in ${seconds.toFixed(2)} s = ${(summary.processed / seconds).toFixed(0)} messages/s (batches of 100; failed ${summary.failed})`,
    );
    console.log(
      `   actions: ${Object.entries(summary.actions)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    rmSync(dir, { recursive: true, force: true });

    // 2. Commands for a 10-message batch that all move to one folder.
    addDovecotUser(dovecot, 'moves', PASSWORD);
    const mover = await client(dovecot, 'moves');
    for (let i = 0; i < 10; i++) await mover.append('INBOX', textMessage(i, { namespace: 'moves' }));
    await mover.logout();
    const proxy = await startImapProxy({ host, port });
    const dir2 = mkdtempSync(join(tmpdir(), 'postroom-bench-moves-'));
    const config2 = configSchema.parse({
      accounts: [
        {
          id: 'moves',
          host,
          port: proxy.port,
          tls: false,
          auth: { user: 'moves', password: { env: 'BENCH_PASSWORD' } },
          start: 'all',
        },
      ],
      store: { kind: 'local', dir: dir2 },
      rules: [{ name: 'archive-all', when: { size: { over: '1 B' } }, then: [{ move: 'Archive/Batch' }] }],
    });
    const runtime2 = await openRuntime(config2, { logger: silentLogger, env: { BENCH_PASSWORD: PASSWORD } });
    await pollAccount(runtime2.pollDependencies(), { account: config2.accounts[0]!, ingest: config2.ingest });
    const before = proxy.commands().length;
    await drainQueue(runtime2.drainDependencies(), { batchSize: 10 });
    const sent = proxy.commands().slice(before);
    const afterSelect = sent.slice(sent.lastIndexOf('SELECT') + 1).filter((c) => c !== 'LOGOUT');
    console.log(`2. 10-message batch moved to one folder: ${sent.join(', ')}`);
    console.log(`   commands after SELECT: ${afterSelect.length} (${afterSelect.join(', ')})`);
    await proxy.close();
    rmSync(dir2, { recursive: true, force: true });
  } finally {
    await dovecot.stop();
  }
}

await main();
