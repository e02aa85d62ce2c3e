/**
 * `npm run bench:latency`: from APPEND to the event written, through the real
 * `postroom run` (a child process, as a user runs it) against a private
 * Dovecot, once with `idle: true` and once with a 10 s schedule and no IDLE.
 * 20 messages each, one at a time, at random moments; prints median and worst.
 *
 * Environment: BENCH_MESSAGES (default 20).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_HEAP_FLAGS } from '#lib/cli/heap-flags.ts';
import {
  addDovecotUser,
  type PrivateDovecot,
  startPrivateDovecot,
} from '#lib/sandbox/dovecot/private-dovecot.ts';
import { textMessage } from '../test/fixtures/messages.ts';
import { openSetupClient } from '../test/helpers/dovecot.ts';

const COUNT = Number(process.env.BENCH_MESSAGES ?? 20);
const PASSWORD = 'bench-password-3';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

async function measure(mode: 'idle' | 'schedule', dovecot: PrivateDovecot): Promise<number[]> {
  const { host, caFile } = dovecot;
  const tlsPort = dovecot.ports.full.imaps;
  const user = `lat-${mode}`;
  addDovecotUser(dovecot, user, PASSWORD);
  const dir = mkdtempSync(join(tmpdir(), `postroom-latency-${mode}-`));
  const configFile = join(dir, 'postroom.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      accounts: [
        {
          id: 'latency',
          host,
          port: tlsPort,
          tls: true,
          tlsOptions: { ca: caFile },
          auth: { user, password: { env: 'LATENCY_PASSWORD' } },
          start: 'new',
          idle: mode === 'idle',
          schedule: mode === 'idle' ? 'rate(5 minutes)' : 'rate(10 seconds)',
        },
      ],
      store: { kind: 'local', dir: join(dir, 'store') },
      rules: [{ name: 'everything', when: { size: { over: '1 B' } }, then: [{ emit: 'mail.received' }] }],
    }),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [...CLI_HEAP_FLAGS, 'bin/postroom.js', 'run', '--config', configFile, '--quiet'],
    {
      env: { ...process.env, LATENCY_PASSWORD: PASSWORD },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const eventsFile = join(dir, 'store', 'events.jsonl');
  const seen = () => (existsSync(eventsFile) ? readFileSync(eventsFile, 'utf8') : '');
  const appender = await openSetupClient(dovecot, { user, password: PASSWORD });
  // Let the first poll (start: new) and the IDLE watch settle.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const latencies: number[] = [];
  try {
    for (let i = 0; i < COUNT; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1500));
      const subject = `latency ${mode} ${i} ${Date.now()}`;
      const started = performance.now();
      await appender.append('INBOX', textMessage(i, { namespace: `${mode}-${i}`, subject }));
      const ok = await waitFor(() => seen().includes(subject), 60_000);
      if (!ok) throw new Error(`no event for message ${i} within 60 s (${mode})`);
      latencies.push(performance.now() - started);
      process.stdout.write('.');
    }
  } finally {
    await appender.logout();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  process.stdout.write('\n');
  return latencies;
}

async function main(): Promise<void> {
  const dovecot = await startPrivateDovecot();
  try {
    const results: [string, number[]][] = [];
    for (const mode of ['idle', 'schedule'] as const) {
      console.log(`${mode}: ${COUNT} messages`);
      results.push([mode, await measure(mode, dovecot)]);
    }
    console.log('\nAPPEND → event in events.jsonl, through `postroom run` (TLS, verified)');
    for (const [mode, values] of results) {
      const label = mode === 'idle' ? 'idle: true' : 'schedule rate(10 seconds)';
      console.log(
        `${label.padEnd(26)} median ${(median(values) / 1000).toFixed(3)} s   worst ${(Math.max(...values) / 1000).toFixed(3)} s   (n=${values.length})`,
      );
    }
  } finally {
    await dovecot.stop();
  }
}

await main();
