/**
 * `npm run bench:ingest`: Postroom's poll against the protocol's limit and the
 * established tool, on one mailbox, alternating, in one run.
 *
 *   (a) raw      one `UID FETCH 1:* (BODY.PEEK[])` on a plain socket, bytes discarded
 *   (b) mbsync   isync with default settings, into a fresh Maildir on the same disk
 *   (c) local    `postroom poll` with the local stand-ins (durable: fsync before checkpoint)
 *   (d) aws      `postroom poll` with the AWS adapters against the emulators
 *   (i) imap     the same IMAP path as (c), into a sink that discards the bytes
 *
 * plus an empty poll against the raw connect-LOGIN-EXAMINE-LOGOUT floor, with
 * the commands it sent counted by a proxy. Each Postroom run is a fresh Node
 * process (its peak RSS is its own) with a fresh store and `start: all`.
 *
 * Environment: BENCH_MESSAGES (default 10000), BENCH_ROUNDS (default 3),
 * BENCH_SKIP (comma list of modes to skip, e.g. "aws"), BENCH_CHILD_NODE_ARGS
 * (more Node flags for the measured children, which run with the `postroom`
 * command's heap settings, e.g. "--cpu-prof --cpu-prof-dir=DIR"),
 * BENCH_MEMORY_DETAIL=1 (print what each child's peak RSS was made of).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { ImapFlow } from 'imapflow';
import { CLI_HEAP_FLAGS } from '#lib/cli/heap-flags.ts';
import { addDovecotUser, startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { attachmentMessage, htmlMessage, textMessage } from '../test/fixtures/messages.ts';
import { createStateTable, startDynamoEmulator } from '../test/helpers/dynamo-emulator.ts';
import {
  createBucket,
  createQueue,
  emulatorEnvironment,
  startS3Emulator,
  startSqsEmulator,
} from '../test/helpers/emulators.ts';
import { startImapProxy } from '../test/helpers/imap-proxy.ts';
import { rawConnectExamine, rawFetchAll } from './lib/raw-imap.ts';

const run = promisify(execFile);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/**
 * Node flags for the measured children: the heap settings the `postroom`
 * command runs with, then any from BENCH_CHILD_NODE_ARGS (later flags win), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where time goes.
 */
const CHILD_NODE_ARGS = [
  ...CLI_HEAP_FLAGS,
  ...(process.env.BENCH_CHILD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
];
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
/** Ingest settings to try instead of the defaults, as JSON (e.g. '{"batchBytes":8388608}'). */
const INGEST = process.env.BENCH_INGEST
  ? (JSON.parse(process.env.BENCH_INGEST) as Record<string, number>)
  : undefined;
const USER = 'bench';
const PASSWORD = 'bench-password-1';

interface Sample {
  ms: number;
  bytes: number;
  fetched: number;
  maxRssMb?: number;
}

function messageFor(i: number): Buffer {
  // ~70% text (~4 KB), ~25% HTML (~40 KB), ~5% with a ~1 MB attachment.
  const slot = i % 20;
  if (slot === 19) return attachmentMessage(i, 1024 * 1024, { namespace: 'bench' });
  if (slot % 4 === 1) return htmlMessage(i, { namespace: 'bench' });
  return textMessage(i, { namespace: 'bench' });
}

async function seed(host: string, port: number): Promise<{ bytes: number; ms: number }> {
  const started = performance.now();
  const total = MESSAGES;
  let bytes = 0;
  // Four connections APPEND in parallel; message i always goes in the same order per connection.
  const workers = 4;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const client = new ImapFlow({
        host,
        port,
        secure: false,
        doSTARTTLS: false,
        auth: { user: USER, pass: PASSWORD },
        logger: false,
      });
      await client.connect();
      for (let i = w; i < total; i += workers) {
        const raw = messageFor(i);
        bytes += raw.length;
        await client.append('INBOX', raw);
      }
      if (w === 0) {
        // One 50 MB message: peak RSS must stay bounded through it too.
        const big = attachmentMessage(999_999, 50 * 1024 * 1024, { namespace: 'bench' });
        bytes += big.length;
        await client.append('INBOX', big);
      }
      await client.logout();
    }),
  );
  return { bytes, ms: performance.now() - started };
}

async function postroomChild<T = Sample>(
  mode: 'poll' | 'imap-only' | 'repeat',
  baseConfig: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-cfg-'));
  const file = join(dir, 'config.json');
  const config = INGEST ? { ...baseConfig, ingest: INGEST } : baseConfig;
  writeFileSync(file, JSON.stringify(config));
  const { stdout } = await run(process.execPath, [...CHILD_NODE_ARGS, await childBundle(), mode, file], {
    env: { ...process.env, ...env, BENCH_PASSWORD: PASSWORD },
    maxBuffer: 1 << 20,
  });
  rmSync(dir, { recursive: true, force: true });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as T & { peakDetail?: unknown };
  // BENCH_MEMORY_DETAIL=1: what the peak RSS was made of (MB), per run.
  if (result.peakDetail) process.stdout.write(` [${mode} peak ${JSON.stringify(result.peakDetail)}]`);
  return result;
}

let bundled: string | undefined;
/**
 * The measured child runs as built JavaScript (esbuild, dependencies from
 * node_modules), as `postroom` itself does after `npm ci`: a TypeScript loader
 * would add its own memory and start-up time to every figure.
 */
async function childBundle(): Promise<string> {
  if (bundled) return bundled;
  // Inside the repo, so that its imports resolve to node_modules.
  const outfile = join('.tmp', 'bench', 'poll-child.mjs');
  await build({
    entryPoints: ['bench/lib/poll-child.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  bundled = outfile;
  return outfile;
}

async function mbsync(host: string, port: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-mbsync-'));
  const maildir = join(dir, 'Maildir');
  mkdirSync(maildir);
  const rc = join(dir, 'mbsyncrc');
  writeFileSync(
    rc,
    [
      'IMAPAccount bench',
      `Host ${host}`,
      `Port ${port}`,
      `User ${USER}`,
      `Pass ${PASSWORD}`,
      'SSLType None',
      'AuthMechs LOGIN',
      '',
      'IMAPStore remote',
      'Account bench',
      '',
      'MaildirStore local',
      `Path ${maildir}/`,
      `Inbox ${maildir}/INBOX`,
      '',
      'Channel bench',
      'Far :remote:',
      'Near :local:',
      'Patterns INBOX',
      'Sync Pull',
      'Create Near',
      // Keep the sync state in the (fresh) Maildir, not in ~/.mbsync, so every round starts clean.
      'SyncState *',
      '',
    ].join('\n'),
  );
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', 'mbsync', '-q', '-c', rc, 'bench'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`mbsync failed (${code}): ${stderr.trim()}`);
  const { stdout } = await run('du', ['-sb', maildir]);
  const bytes = Number(stdout.split('\t')[0]);
  const count = Number((await run('sh', ['-c', `find ${maildir}/INBOX -type f | wc -l`])).stdout.trim());
  const maxRssMb = Number(stderr.trim().split('\n').pop()) / 1024;
  rmSync(dir, { recursive: true, force: true });
  return { ms, bytes, fetched: count, maxRssMb };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function accountFor(port: number) {
  return {
    id: 'bench',
    host: '127.0.0.1',
    port,
    tls: false,
    auth: { user: USER, password: { env: 'BENCH_PASSWORD' } },
    start: 'all',
  };
}

async function main(): Promise<void> {
  console.log(
    `Postroom ingest benchmark: ${MESSAGES} messages + one 50 MB message, ${ROUNDS} rounds, alternating`,
  );
  const dovecot = await startPrivateDovecot();
  addDovecotUser(dovecot, USER, PASSWORD);
  const host = dovecot.host;
  const port = dovecot.ports.full.imap;
  const emulators = SKIP.has('aws')
    ? undefined
    : await Promise.all([startS3Emulator(), startSqsEmulator(), startDynamoEmulator()]);
  try {
    const seeded = await seed(host, port);
    console.log(`seeded ${(seeded.bytes / 1e6).toFixed(1)} MB in ${(seeded.ms / 1000).toFixed(1)} s`);

    const samples: Record<string, Sample[]> = { raw: [], mbsync: [], imap: [], local: [], aws: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      process.stdout.write(`round ${round}:`);
      if (!SKIP.has('raw')) {
        const r = await rawFetchAll(host, port, USER, PASSWORD);
        samples.raw!.push({ ms: r.ms, bytes: r.bytes, fetched: MESSAGES + 1 });
        process.stdout.write(' raw');
      }
      if (!SKIP.has('mbsync')) {
        samples.mbsync!.push(await mbsync(host, port));
        process.stdout.write(' mbsync');
      }
      if (!SKIP.has('imap')) {
        samples.imap!.push(
          await postroomChild('imap-only', {
            accounts: [accountFor(port)],
            store: { kind: 'local', dir: mkdtempSync(join(tmpdir(), 'pr-imap-')) },
          }),
        );
        process.stdout.write(' imap');
      }
      if (!SKIP.has('local')) {
        const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-local-'));
        samples.local!.push(
          await postroomChild('poll', { accounts: [accountFor(port)], store: { kind: 'local', dir } }),
        );
        rmSync(dir, { recursive: true, force: true });
        process.stdout.write(' local');
      }
      if (emulators) {
        const [s3, sqs, dynamo] = emulators;
        const name = `bench-${round}-${Date.now().toString(36)}`;
        await createBucket(s3.endpoint, name);
        const queueUrl = await createQueue(sqs.endpoint, name);
        const table = await createStateTable(dynamo.endpoint, name);
        samples.aws!.push(
          await postroomChild(
            'poll',
            { accounts: [accountFor(port)], store: { kind: 'aws', bucket: name, queueUrl, table } },
            emulatorEnvironment({ s3: s3.endpoint, sqs: sqs.endpoint, dynamodb: dynamo.endpoint }),
          ),
        );
        process.stdout.write(' aws');
      }
      process.stdout.write('\n');
    }

    const rawMs = median(samples.raw!.map((s) => s.ms));
    const mbsyncRate = samples.mbsync!.length
      ? median(samples.mbsync!.map((s) => s.fetched / (s.ms / 1000)))
      : Number.NaN;
    const rawRate = (MESSAGES + 1) / (rawMs / 1000);
    const rows: string[][] = [];
    const labels: Record<string, string> = {
      raw: '(a) raw UID FETCH 1:*',
      mbsync: '(b) mbsync → Maildir',
      imap: '(i) IMAP path, discarding sink',
      local: '(c) postroom poll, local (durable)',
      aws: '(d) postroom poll, AWS emulators',
    };
    for (const [mode, list] of Object.entries(samples)) {
      if (list.length === 0) continue;
      const ms = median(list.map((s) => s.ms));
      const fetched = median(list.map((s) => s.fetched));
      const bytes = median(list.map((s) => s.bytes));
      const rate = fetched / (ms / 1000);
      const rss = list.some((s) => s.maxRssMb !== undefined)
        ? `${Math.max(...list.map((s) => s.maxRssMb ?? 0)).toFixed(0)} MB`
        : '-';
      rows.push([
        labels[mode]!,
        `${(ms / 1000).toFixed(2)} s`,
        // On a shared machine one slow round says little; all of them say how noisy the run was.
        list.map((s) => (s.ms / 1000).toFixed(2)).join(' '),
        `${rate.toFixed(0)}`,
        `${(bytes / 1e6 / (ms / 1000)).toFixed(0)}`,
        rss,
        `${(rate / rawRate).toFixed(2)}×`,
        Number.isNaN(mbsyncRate) ? '-' : `${(rate / mbsyncRate).toFixed(2)}×`,
        String(fetched),
      ]);
    }
    printTable(
      [
        'mode (median of rounds)',
        'time',
        'each round (s)',
        'msg/s',
        'MB/s',
        'peak RSS',
        'vs raw',
        'vs mbsync',
        'messages',
      ],
      rows,
    );

    // The empty poll: what a schedule costs when nothing arrived. Timed straight
    // against Dovecot like the raw floor; the commands are counted in separate
    // polls through a counting proxy (its extra hop would cost every round trip).
    const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-empty-'));
    const config = { accounts: [accountFor(port)], store: { kind: 'local', dir } };
    await postroomChild('poll', config); // first poll: ingests everything
    // Cold: a fresh process per poll (a cold Lambda, a cron'd `postroom poll`).
    const cold: number[] = [];
    for (let i = 0; i < 5; i++) cold.push((await postroomChild('poll', config)).ms);
    // Warm: repeated polls in one process (a running `postroom run`, a warm Lambda).
    const warm = (await postroomChild<{ each: number[] }>('repeat', config, { BENCH_REPEAT: '9' })).each;
    const floors: number[] = [];
    for (let i = 0; i < 9; i++) floors.push(await rawConnectExamine(host, port, USER, PASSWORD));
    const proxy = await startImapProxy({ host, port });
    const proxied = { accounts: [accountFor(proxy.port)], store: { kind: 'local', dir } };
    for (let i = 0; i < 5; i++) await postroomChild('poll', proxied);
    const sent = proxy.commands();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
    const counts = new Map<string, number>();
    for (const c of sent) counts.set(c, (counts.get(c) ?? 0) + 1);
    const floor = median(floors);
    console.log(`\nraw connect-LOGIN-EXAMINE-LOGOUT: ${floor.toFixed(1)} ms (median of 9)`);
    console.log(
      `empty poll, warm process: ${median(warm).toFixed(1)} ms (median of 9) = ${(median(warm) / floor).toFixed(2)}× raw`,
    );
    console.log(
      `empty poll, fresh process: ${median(cold).toFixed(1)} ms (median of 5) = ${(median(cold) / floor).toFixed(2)}× raw`,
    );
    console.log(`commands sent by 5 empty polls: ${[...counts].map(([c, n]) => `${c} ×${n}`).join(', ')}`);
    console.log(`SEARCH or FETCH in empty polls: ${sent.filter((c) => /SEARCH|FETCH/.test(c)).length}`);
  } finally {
    await dovecot.stop();
    if (emulators) await Promise.all(emulators.map((e) => e.stop()));
  }
}

function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(headers)}\n${line(widths.map((w) => '-'.repeat(w)))}`);
  for (const row of rows) console.log(line(row));
}

await main();
