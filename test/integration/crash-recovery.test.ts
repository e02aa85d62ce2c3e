/**
 * Crash recovery that does not wait, as a user meets it: the real `postroom
 * poll` and `postroom process` are SIGKILLed mid-work (so nothing they held is
 * released), then run again at once. The rerun must take over the mailbox's
 * lease and the received queue messages of the dead process, not report
 * `locked` or leave them hidden for their timeouts, and the blob folder's
 * temp files of the killed writer must be gone.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { textMessage } from '../fixtures/messages.ts';
import {
  type CliProcess,
  type ConfigFile,
  killAllPostroom,
  readEventsFile,
  runPostroom,
  spawnPostroom,
  writeConfigFile,
} from '../helpers/cli.ts';
import {
  appendConcurrently,
  dovecotInfo,
  freshUser,
  type TestUser,
  testAccount,
} from '../helpers/dovecot.ts';

const info = () => dovecotInfo();
const servers: Server[] = [];

afterEach(async () => {
  await killAllPostroom();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** `count` small messages in INBOX. */
function fill(user: TestUser, count: number): Promise<void> {
  const all = Array.from({ length: count }, (_, i) => textMessage(i, { namespace: user.user, bytes: 300 }));
  return appendConcurrently(info(), user, 'INBOX', all);
}

/** Polls `ready` every 20 ms; fails quoting the output when the command exits first or after `timeoutMs`. */
async function until(cli: CliProcess, what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (cli.hasExited()) throw new Error(`postroom exited before ${what}:\n${cli.stderr().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** SIGKILL, and wait until the process is reaped. */
async function sigkill(cli: CliProcess): Promise<void> {
  cli.signal('SIGKILL');
  const result = await cli.exited;
  expect(result.signal).toBe('SIGKILL');
}

/** What the killed command left in the store's SQLite file. */
function readStore(config: ConfigFile) {
  const db = new Database(join(config.storeDir, 'postroom.db'), { readonly: true });
  try {
    const now = Date.now();
    const one = <T>(sql: string) => db.prepare<[], T>(sql).get()!;
    const lease = db
      .prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM leases WHERE expires_at > ?')
      .get(now)!;
    const inFlight = db
      .prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM queue_messages WHERE visible_at > ?')
      .get(now)!;
    return {
      heldLeases: lease.n,
      inFlight: inFlight.n,
      queued: one<{ n: number }>('SELECT COUNT(*) AS n FROM queue_messages').n,
      lastUid:
        one<{ last_uid: number } | undefined>(
          "SELECT last_uid FROM checkpoints WHERE account = 'test' AND mailbox = 'INBOX'",
        )?.last_uid ?? 0,
    };
  } finally {
    db.close();
  }
}

function blobCount(config: ConfigFile): number {
  const dir = join(config.storeDir, 'raw', 'test', 'INBOX');
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, v) => n + readdirSync(join(dir, v)).length, 0);
}

describe('postroom poll SIGKILLed mid-backfill', () => {
  const TOTAL = 2000;

  it('is followed at once by a poll that takes the mailbox over and fetches the rest', async () => {
    // Prepare: a backfill killed after its first batches, holding the mailbox's lease.
    const user = freshUser(info(), 'crash-poll');
    await fill(user, TOTAL);
    const config = writeConfigFile(
      { accounts: [testAccount(info(), user, { tls: false, start: 'all' })], ingest: { batchMessages: 100 } },
      'postroom-crash-',
    );
    const env = { POSTROOM_TEST_PASSWORD: user.password };
    const killed = spawnPostroom(['poll', '--config', config.file], { env });
    await until(killed, 'the first batch was stored', () => blobCount(config) >= 100, 60_000);
    await sigkill(killed);
    const left = readStore(config);

    // Act
    const started = Date.now();
    const rerun = await runPostroom(['poll', '--config', config.file, '--json'], { env, timeoutMs: 50_000 });
    const ms = Date.now() - started;

    // Assess
    expect(left.heldLeases).toBe(1);
    expect(left.lastUid).toBeLessThan(TOTAL);
    expect(rerun.code, rerun.stderr).toBe(0);
    const result = JSON.parse(rerun.stdout);
    expect(result.mailboxes).toMatchObject([{ mailbox: 'INBOX', outcome: 'done', lastUid: TOTAL }]);
    expect(result.mailboxes[0].heldBy).toBeUndefined();
    expect(result.fetched).toBe(TOTAL - left.lastUid);
    expect(ms).toBeLessThan(30_000);
    expect(readStore(config)).toMatchObject({ heldLeases: 0, queued: TOTAL });
    expect(readdirSync(join(config.storeDir, '.tmp'))).toEqual([]);
  });
});

describe('postroom process SIGKILLed mid-batch', () => {
  const TOTAL = 120;

  it('is followed at once by a run that processes the messages the killed one had received', async () => {
    // Prepare: a webhook receiver that holds the killed run's first request
    // open, so the run is killed with its batch received and unfinished.
    let hold = true;
    const server = createServer((request, response) => {
      request.resume();
      if (!hold) response.writeHead(204).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    let requests = 0;
    server.on('request', () => {
      requests += 1;
    });
    const user = freshUser(info(), 'crash-process');
    await fill(user, TOTAL);
    const rules = [
      {
        name: 'everything',
        when: { size: { over: '1 B' } },
        then: [{ emit: 'mail.received' }, { webhook: { url, secret: { env: 'HOOK_SECRET' } } }],
      },
    ];
    const config = writeConfigFile(
      { accounts: [testAccount(info(), user, { tls: false, start: 'all' })], rules },
      'postroom-crash-',
    );
    const env = { POSTROOM_TEST_PASSWORD: user.password, HOOK_SECRET: 'hook-secret-1' };
    const poll = await runPostroom(['poll', '--config', config.file], { env });
    expect(poll.code, poll.stderr).toBe(0);
    const killed = spawnPostroom(['process', '--config', config.file, '--batch-size', '40'], { env });
    await until(killed, 'the first webhook was sent', () => requests > 0, 60_000);
    await sigkill(killed);
    const left = readStore(config);
    hold = false;

    // Act
    const started = Date.now();
    const rerun = await runPostroom(['process', '--config', config.file, '--json'], {
      env,
      timeoutMs: 50_000,
    });
    const ms = Date.now() - started;

    // Assess: nothing was waiting out the five-minute visibility timeout.
    expect(left.inFlight).toBeGreaterThan(0);
    expect(left.queued).toBe(TOTAL);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ processed: TOTAL, failed: 0 });
    expect(ms).toBeLessThan(30_000);
    expect(readStore(config)).toMatchObject({ inFlight: 0, queued: 0 });
    const uids = new Set(readEventsFile(config.eventsFile).map((e) => e.detail.uid));
    expect(uids.size).toBe(TOTAL);
  });
});
