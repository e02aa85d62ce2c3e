/**
 * `npm run bench:process`: the consumer side against a private Dovecot, with
 * imapfilter as the yardstick. Every job gets its own freshly seeded
 * 1,000-message INBOX (same messages; `Archive` and `Filed` exist).
 *
 * One table:
 *   - imapfilter, the whole job, 5 header rules (flag, keyword, copy, move,
 *     delete by regex) with server-side SEARCH;
 *   - `postroom process` (the real binary, wall time) of the 1,000 messages
 *     `postroom poll` queued, same 5 rules; and poll + process;
 *   - 100 rules, and 5 rules that need the body, in process (`drainQueue`): msg/s;
 *   - the IMAP commands per 1,000 messages of `postroom process`, counted by a proxy.
 * Then whether the end states of imapfilter's and Postroom's mailboxes match.
 * Prints numbers; the targets are printed beside them, never asserted.
 * BENCH_CPU_PROF=<dir> writes a CPU profile of the timed `postroom process` there;
 * BENCH_STRACE=<file> counts its fsync/fdatasync calls into that file (strace -c).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
import { runImapfilter } from './lib/imapfilter.ts';

const PASSWORD = 'bench-password-2';
const MESSAGES = 1000;
const ROOT = new URL('..', import.meta.url).pathname;
const execFileAsync = promisify(execFile);

/** The 1,000 messages: half from alice, every tenth with a campaign header, a few with attachments. */
function corpus(): Buffer[] {
  return Array.from({ length: MESSAGES }, (_, i) => {
    const from = i % 2 === 0 ? 'Alice Example <alice@example.test>' : 'Bob Other <bob@other.test>';
    const headers = i % 10 === 3 ? ['X-Campaign: spring'] : [];
    if (i % 50 === 49) return attachmentMessage(i, 200 * 1024, { from, headers });
    if (i % 4 === 1) return htmlMessage(i, { from, headers, bytes: 12 * 1024 });
    return textMessage(i, { from, headers });
  });
}

/** The five rules imapfilter runs too (bench/lib/imapfilter.ts). */
function headerRules(): Record<string, unknown>[] {
  return [
    { name: 'flag-alice', when: { from: 'alice@' }, then: [{ flag: ['\\Flagged'] }] },
    {
      name: 'spring',
      when: { header: { name: 'X-Campaign', contains: 'spring' } },
      then: [{ flag: ['$Spring'] }],
    },
    { name: 'archive', when: { subject: { regex: 'message [0-9]*5$' } }, then: [{ copy: 'Archive' }] },
    { name: 'file', when: { subject: { regex: 'message [0-9]*7$' } }, then: [{ move: 'Filed' }] },
    { name: 'drop', when: { subject: { regex: 'message [0-9]*9$' } }, then: [{ delete: true }] },
  ];
}

/** 95 envelope and header rules that mostly do not match, then the five. */
function hundredRules(): Record<string, unknown>[] {
  const rules: Record<string, unknown>[] = [];
  for (let i = 0; i < 95; i++) {
    const when =
      i % 3 === 0
        ? { from: { domain: `vendor-${i}.example` } }
        : i % 3 === 1
          ? { subject: { contains: `[ticket-${i}]` } }
          : { header: { name: 'X-Campaign', is: `c-${i}` } };
    rules.push({ name: `noise-${i}`, when, then: [{ flag: [`kw${i}`] }] });
  }
  return [...rules, ...headerRules()];
}

/** Five rules that read the body or the attachments. */
function bodyRules(): Record<string, unknown>[] {
  return [
    { name: 'unsubscribe', when: { body: { contains: 'unsubscribe' } }, then: [{ flag: ['$News'] }] },
    { name: 'invoice', when: { body: { regex: 'invoice [0-9]+' } }, then: [{ flag: ['$Invoice'] }] },
    { name: 'pdf', when: { attachment: { name: { matches: '*.pdf' } } }, then: [{ copy: 'Archive' }] },
    { name: 'lorem', when: { body: { matches: '*lorem*ipsum*' } }, then: [{ flag: ['$Lorem'] }] },
    { name: 'big', when: { size: { over: '100 KB' } }, then: [{ move: 'Filed' }] },
  ];
}

async function seed(dovecot: PrivateDovecot, user: string, messages: Buffer[]): Promise<void> {
  addDovecotUser(dovecot, user, PASSWORD);
  const client = await setupClient(dovecot, user);
  try {
    await client.mailboxCreate('Archive');
    await client.mailboxCreate('Filed');
    for (const raw of messages) await client.append('INBOX', raw);
  } finally {
    await client.logout();
  }
}

function setupClient(dovecot: PrivateDovecot, user: string): Promise<ImapFlow> {
  return openSetupClient(dovecot, { user, password: PASSWORD });
}

/** Every folder's messages as `Message-ID flags`, sorted: what two runs must agree on. */
async function endState(dovecot: PrivateDovecot, user: string): Promise<string> {
  const client = await setupClient(dovecot, user);
  const lines: string[] = [];
  try {
    for (const folder of ['INBOX', 'Archive', 'Filed']) {
      const lock = await client.getMailboxLock(folder);
      try {
        for await (const m of client.fetch('1:*', { envelope: true, flags: true })) {
          const flags = [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort();
          lines.push(`${folder} ${m.envelope?.messageId} ${flags.join(' ')}`);
        }
      } finally {
        lock.release();
      }
    }
  } finally {
    await client.logout();
  }
  return lines.sort().join('\n');
}

interface Job {
  dir: string;
  file: string;
  config: ReturnType<typeof configSchema.parse>;
}

function jobFor(user: string, port: number, host: string, rules: Record<string, unknown>[]): Job {
  const dir = mkdtempSync(join(tmpdir(), `postroom-bench-${user}-`));
  const raw = {
    accounts: [
      { id: user, host, port, tls: false, auth: { user, password: { env: 'BENCH_PASSWORD' } }, start: 'all' },
    ],
    store: { kind: 'local', dir: join(dir, 'store') },
    rules,
  };
  const file = join(dir, 'postroom.yaml');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return { dir, file, config: configSchema.parse(raw) };
}

/** The real binary; wall time in ms. Not spawnSync: the counting proxy runs in this process. */
async function postroom(args: string[], profile = false): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  const dir = process.env.BENCH_CPU_PROF;
  const bin = join(ROOT, 'bin/postroom.js');
  // --cpu-prof is refused in NODE_OPTIONS: the profiled run starts node itself.
  const strace = process.env.BENCH_STRACE;
  const [file, argv] =
    profile && dir
      ? [process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, bin, ...args]]
      : profile && strace
        ? ['strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', strace, bin, ...args]]
        : [bin, args];
  try {
    const { stdout } = await execFileAsync(file, argv, {
      env: { ...process.env, BENCH_PASSWORD: PASSWORD },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ms: performance.now() - started, stdout };
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`postroom ${args[0]} failed: ${stderr?.trim() ?? String(error)}`);
  }
}

/** Polls with the library, then drains in process: messages/s of the drain alone. */
async function inProcess(dovecot: PrivateDovecot, user: string, rules: Record<string, unknown>[]) {
  const job = jobFor(user, dovecot.ports.full.imap, dovecot.host, rules);
  try {
    const runtime = await openRuntime(job.config, {
      logger: silentLogger,
      env: { BENCH_PASSWORD: PASSWORD },
    });
    await pollAccount(runtime.pollDependencies(), {
      account: job.config.accounts[0]!,
      ingest: job.config.ingest,
    });
    const started = performance.now();
    const summary = await drainQueue(runtime.drainDependencies());
    const seconds = (performance.now() - started) / 1000;
    return { rate: summary.processed / seconds, summary, seconds };
  } finally {
    rmSync(job.dir, { recursive: true, force: true });
  }
}

function row(what: string, value: string, target: string): string[] {
  return [what, value, target];
}

async function main(): Promise<void> {
  // The CLI as installed: the bundle `npm install` builds (prepare), not the sources through tsx.
  spawnSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { stdio: 'inherit' });
  const dovecot = await startPrivateDovecot();
  const { host } = dovecot;
  const port = dovecot.ports.full.imap;
  const messages = corpus();
  const rows: string[][] = [];
  try {
    for (const user of ['filt', 'proc', 'count', 'hundred', 'body']) await seed(dovecot, user, messages);

    // imapfilter: the whole job.
    const imapfilterMs = runImapfilter(host, port, 'filt', PASSWORD);
    rows.push(
      row('imapfilter, whole job (5 header rules)', `${imapfilterMs.toFixed(0)} ms`, '(the yardstick)'),
    );

    // postroom poll, then postroom process: the real binary.
    const job = jobFor('proc', port, host, headerRules());
    const poll = await postroom(['poll', '--config', job.file, '--json']);
    const processed = await postroom(['process', '--config', job.file, '--json'], true);
    const summary = JSON.parse(processed.stdout) as { processed: number; failed: number; actions: object };
    rows.push(
      row(
        `postroom process, ${summary.processed} queued (failed ${summary.failed})`,
        `${processed.ms.toFixed(0)} ms`,
        `< ${imapfilterMs.toFixed(0)} ms`,
      ),
    );
    rows.push(
      row(
        'postroom poll + process',
        `${(poll.ms + processed.ms).toFixed(0)} ms`,
        `≤ ${(2 * imapfilterMs).toFixed(0)} ms`,
      ),
    );

    // The same through a counting proxy, for the commands.
    const proxy = await startImapProxy({ host, port });
    const counted = jobFor('count', proxy.port, host, headerRules());
    await postroom(['poll', '--config', counted.file, '--json']);
    proxy.reset();
    await postroom(['process', '--config', counted.file, '--json']);
    const sent = proxy.commands();
    await proxy.close();
    const tally = new Map<string, number>();
    for (const c of sent) tally.set(c, (tally.get(c) ?? 0) + 1);

    const hundred = await inProcess(dovecot, 'hundred', hundredRules());
    rows.push(
      row(
        `100 rules, in process (${hundred.summary.processed} msgs)`,
        `${hundred.rate.toFixed(0)} msg/s`,
        '≥ 2000 msg/s',
      ),
    );
    const body = await inProcess(dovecot, 'body', bodyRules());
    rows.push(
      row(
        `5 body rules, in process (${body.summary.processed} msgs)`,
        `${body.rate.toFixed(0)} msg/s`,
        '≥ 500 msg/s',
      ),
    );
    rows.push(
      row(
        `IMAP commands, postroom process of ${MESSAGES}`,
        String(sent.length),
        [...tally].map(([c, n]) => `${c} ${n}`).join(', '),
      ),
    );

    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
    const line = (r: string[]) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
    console.log(line(['job', 'measured', 'target']));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));

    const [filtState, procState] = await Promise.all([endState(dovecot, 'filt'), endState(dovecot, 'proc')]);
    const lines = filtState.split('\n').length;
    console.log(
      filtState === procState
        ? `end states match: imapfilter and postroom left the same ${lines} messages (copies included) with the same flags`
        : `end states DIFFER: imapfilter ${lines} lines, postroom ${procState.split('\n').length} lines`,
    );
    if (filtState !== procState) {
      const a = new Set(filtState.split('\n'));
      const b = new Set(procState.split('\n'));
      console.log(
        `  only imapfilter: ${[...a]
          .filter((l) => !b.has(l))
          .slice(0, 5)
          .join(' | ')}`,
      );
      console.log(
        `  only postroom:   ${[...b]
          .filter((l) => !a.has(l))
          .slice(0, 5)
          .join(' | ')}`,
      );
    }
    rmSync(job.dir, { recursive: true, force: true });
    rmSync(counted.dir, { recursive: true, force: true });
  } finally {
    await dovecot.stop();
  }
}

await main();
