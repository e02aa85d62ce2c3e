/**
 * `postroom run` as a user runs it (a child process) against the private
 * Dovecot, with the local stand-ins in a temp folder and a rule that emits an
 * event for every message: IDLE brings new mail in without waiting for the
 * schedule (and a server without IDLE still gets its mail processed), a
 * dropped IDLE connection is re-opened, SIGTERM in the middle of a backfill
 * exits 0 in time and loses nothing, and `--trace` never shows the password.
 * Mail is arranged and inspected over separate IMAP sessions, never through
 * the code under test.
 */
import { Buffer } from 'node:buffer';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
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
  appendMessages,
  dovecotInfo,
  freshUser,
  type TestUser,
  testAccount,
  variantPorts,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { type ImapProxy, startImapProxy } from '../helpers/imap-proxy.ts';

const info = () => dovecotInfo();
/** An event for every message, so "processed" can be read in events.jsonl. */
const EVERY_MESSAGE = [
  { name: 'everything', when: { size: { over: '1 B' } }, then: [{ emit: 'mail.received' }] },
];
const RUNNING = /postroom is running/;

const proxies: ImapProxy[] = [];
afterEach(async () => {
  await killAllPostroom();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

function writeRunConfig(account: AccountConfig, ingest?: Record<string, number>): ConfigFile {
  return writeConfigFile(
    { accounts: [account], rules: EVERY_MESSAGE, ...(ingest ? { ingest } : {}) },
    'postroom-run-',
  );
}

function startRun(config: ConfigFile, user: TestUser, extraArgs: string[] = []): CliProcess {
  return spawnPostroom(['run', '--config', config.file, ...extraArgs], {
    env: { POSTROOM_TEST_PASSWORD: user.password },
  });
}

async function append(user: TestUser, messages: Buffer[]): Promise<number[]> {
  return withSetupClient(info(), user, (client) => appendMessages(client, 'INBOX', messages));
}

/**
 * Polls `ready` until it is true; fails at once, quoting the output, when
 * `postroom run` exits in the meantime, and after `timeoutMs`.
 */
async function until(cli: CliProcess, what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ready()) return;
    if (cli.hasExited()) throw new Error(`postroom run exited before ${what}:\n${cli.stderr().slice(-4000)}`);
    if (Date.now() > deadline)
      throw new Error(`not ${what} within ${timeoutMs} ms:\n${cli.stderr().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until events.jsonl has an event for `uid`. */
function eventFor(cli: CliProcess, config: ConfigFile, uid: number, timeoutMs: number): Promise<void> {
  return until(
    cli,
    `UID ${uid} was processed`,
    () => readEventsFile(config.eventsFile).some((e) => e.detail.uid === uid),
    timeoutMs,
  );
}

/**
 * SIGTERM, then the exit status and how long the process took to exit. A
 * process still there after 15 s is killed (and the test sees code null).
 */
async function terminate(cli: CliProcess): Promise<{ code: number | null; ms: number }> {
  const sent = Date.now();
  cli.signal('SIGTERM');
  const kill = setTimeout(() => cli.signal('SIGKILL'), 15_000);
  const result = await cli.exited;
  clearTimeout(kill);
  return { code: result.code, ms: Date.now() - sent };
}

describe('postroom run: new mail while running', () => {
  it('processes a message appended while running within seconds with IDLE and a 5-minute schedule', async () => {
    // Prepare: the first message proves the first poll and processing are done,
    // so the second can only be noticed through IDLE (the schedule is 5 minutes away).
    const user = freshUser(info(), 'run-idle');
    const [first] = await append(user, [textMessage(1, { namespace: user.user })]);
    const config = writeRunConfig(
      testAccount(info(), user, { idle: true, schedule: 'rate(5 minutes)', start: 'all' }),
    );
    const cli = startRun(config, user);
    await cli.waitForStderr(RUNNING, 30_000);
    await eventFor(cli, config, first!, 30_000);

    // Act
    const [second] = await append(user, [textMessage(2, { namespace: user.user })]);

    // Assess
    await eventFor(cli, config, second!, 15_000);
    const stopped = await terminate(cli);
    expect(stopped.code, cli.stderr()).toBe(0);
    expect(readEventsFile(config.eventsFile).map((e) => e.detail.uid)).toEqual([first, second]);
  });

  it('still processes new mail on a server without IDLE (NOOP polling or the schedule)', async () => {
    // Prepare
    const user = freshUser(info(), 'run-noidle');
    const [first] = await append(user, [textMessage(1, { namespace: user.user })]);
    const config = writeRunConfig(
      testAccount(info(), user, {
        variant: 'noCondstoreIdle',
        idle: true,
        schedule: 'rate(10 seconds)',
        start: 'all',
      }),
    );
    const cli = startRun(config, user, ['--trace']);
    await cli.waitForStderr(RUNNING, 30_000);
    await eventFor(cli, config, first!, 30_000);

    // Act
    const [second] = await append(user, [textMessage(2, { namespace: user.user })]);

    // Assess
    await eventFor(cli, config, second!, 30_000);
    expect((await terminate(cli)).code, cli.stderr()).toBe(0);
    expect(cli.stderr()).not.toMatch(/failed/i);
    // The server really offered no IDLE, and none was tried.
    expect(cli.stderr()).toMatch(/^S: [A-Za-z0-9]+ OK \[CAPABILITY (?!.*\bIDLE\b)/m);
    expect(cli.stderr()).not.toMatch(/^C: \S+ IDLE$/m);
  });

  it('keeps running between scheduled polls without IDLE, and the schedule brings new mail in', async () => {
    // Prepare: no IDLE connection, so only the schedule keeps the process busy.
    const user = freshUser(info(), 'run-schedule');
    const [first] = await append(user, [textMessage(1, { namespace: user.user })]);
    const config = writeRunConfig(
      testAccount(info(), user, { idle: false, schedule: 'rate(10 seconds)', start: 'all' }),
    );
    const cli = startRun(config, user);
    await cli.waitForStderr(RUNNING, 30_000);
    await eventFor(cli, config, first!, 30_000);

    // Act
    const [second] = await append(user, [textMessage(2, { namespace: user.user })]);

    // Assess
    await eventFor(cli, config, second!, 30_000);
    expect(cli.hasExited()).toBe(false);
    expect((await terminate(cli)).code, cli.stderr()).toBe(0);
  });

  it('re-opens a dropped IDLE connection and processes mail that arrives afterwards', async () => {
    // Prepare: the run talks to Dovecot through a proxy that can cut its connections.
    const user = freshUser(info(), 'run-drop');
    const proxy = await startImapProxy({ host: info().host, port: variantPorts(info(), 'full').imap });
    proxies.push(proxy);
    const [first] = await append(user, [textMessage(1, { namespace: user.user })]);
    const config = writeRunConfig(
      testAccount(info(), user, {
        tls: false,
        port: proxy.port,
        idle: true,
        schedule: 'rate(5 minutes)',
        start: 'all',
      }),
    );
    const cli = startRun(config, user, ['--trace']);
    await cli.waitForStderr(RUNNING, 30_000);
    await eventFor(cli, config, first!, 30_000);
    await cli.waitForStderr(/^C: \S+ IDLE$/m, 15_000);

    // Act: cut every connection, wait for the watcher to be back in IDLE, then deliver.
    const before = cli.stderr().length;
    proxy.dropAll();
    await cli.waitForStderr(/IDLE connection lost; reconnecting/, 15_000, before);
    await cli.waitForStderr(/^C: \S+ IDLE$/m, 30_000, before);
    const [second] = await append(user, [textMessage(2, { namespace: user.user })]);

    // Assess
    await eventFor(cli, config, second!, 15_000);
    expect((await terminate(cli)).code, cli.stderr()).toBe(0);
    expect(readEventsFile(config.eventsFile).map((e) => e.detail.uid)).toEqual([first, second]);
  });
});

describe('postroom run: SIGTERM in the middle of a backfill', () => {
  const TOTAL = 2000;

  it('exits 0 within 10 s, and a rerun delivers the rest: every message exactly once', async () => {
    // Prepare: 2,000 small messages, appended over several connections at once.
    const user = freshUser(info(), 'run-stop');
    const all = Array.from({ length: TOTAL }, (_, i) => textMessage(i, { namespace: user.user, bytes: 300 }));
    await appendConcurrently(info(), user, 'INBOX', all);
    const config = writeRunConfig(testAccount(info(), user, { tls: false, start: 'all' }), {
      batchMessages: 100,
    });
    const cli = startRun(config, user);
    // Some batches stored (blobs, queue rows) but far from all of them.
    const blobsDir = join(config.storeDir, 'raw', 'test', 'INBOX');
    const blobCount = () =>
      existsSync(blobsDir)
        ? readdirSync(blobsDir).reduce(
            (n, v) => n + readdirSync(join(blobsDir, v)).filter((f) => f.endsWith('.eml')).length,
            0,
          )
        : 0;
    let stored = 0;
    await until(
      cli,
      'the first batch was stored',
      () => {
        stored = blobCount();
        return stored >= 100;
      },
      60_000,
    );

    // Act
    const stopped = await terminate(cli);

    // Assess: a clean, timely exit part-way through; the batch in flight at the
    // signal (the one holding blob number `stored`) was finished, queued and checkpointed.
    expect(stopped.code, cli.stderr()).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    const { lastUid, queued } = readStore(config);
    expect(lastUid).toBeGreaterThanOrEqual(Math.ceil(stored / 100) * 100);
    expect(lastUid).toBeLessThan(TOTAL);
    expect(lastUid % 100).toBe(0);
    expect(queued).toBe(lastUid);

    // Act: the rerun.
    const env = { POSTROOM_TEST_PASSWORD: user.password };
    const poll = await runPostroom(['poll', '--config', config.file, '--json'], { env });
    const processed = await runPostroom(
      ['process', '--config', config.file, '--json', '--batch-size', '500'],
      {
        env,
      },
    );

    // Assess: the rest and only the rest was fetched; every message has exactly one event.
    expect(poll.code, poll.stderr).toBe(0);
    expect(JSON.parse(poll.stdout)).toMatchObject({
      fetched: TOTAL - lastUid,
      mailboxes: [{ mailbox: 'INBOX', lastUid: TOTAL }],
    });
    expect(processed.code, processed.stderr).toBe(0);
    expect(JSON.parse(processed.stdout)).toMatchObject({ processed: TOTAL, failed: 0 });
    const events = readEventsFile(config.eventsFile);
    expect(events).toHaveLength(TOTAL);
    expect(new Set(events.map((e) => e.detail.uid)).size).toBe(TOTAL);
    expect(new Set(events.map((e) => e.detail.messageId)).size).toBe(TOTAL);
    expect(readStore(config)).toEqual({ lastUid: TOTAL, queued: 0 });
  });
});

describe('postroom run: work left queued earlier', () => {
  it('processes what an earlier poll queued, although no new mail arrives', async () => {
    // Prepare: mail polled (stored and queued) but not processed, as after a stop mid-drain.
    const user = freshUser(info(), 'run-left');
    const uids = await append(
      user,
      [1, 2, 3].map((i) => textMessage(i, { namespace: user.user })),
    );
    const config = writeRunConfig(testAccount(info(), user, { schedule: 'rate(5 minutes)', start: 'all' }));
    const env = { POSTROOM_TEST_PASSWORD: user.password };
    const poll = await runPostroom(['poll', '--config', config.file, '--json'], { env });
    expect(poll.code, poll.stderr).toBe(0);
    expect(JSON.parse(poll.stdout)).toMatchObject({ fetched: 3 });

    // Act
    const cli = startRun(config, user);

    // Assess
    for (const uid of uids) await eventFor(cli, config, uid, 15_000);
    expect((await terminate(cli)).code, cli.stderr()).toBe(0);
    expect(readStore(config)).toEqual({ lastUid: 3, queued: 0 });
  });
});

describe('postroom run: SIGTERM while starting', () => {
  it('exits 0 when the signal comes before the IDLE watch is open', async () => {
    // Prepare
    const user = freshUser(info(), 'run-early');
    const config = writeRunConfig(testAccount(info(), user, { idle: true, start: 'all' }));
    const cli = startRun(config, user, ['--trace']);
    // The first server greeting: the IDLE watch still has to log in and EXAMINE.
    await cli.waitForStderr(/^S: \* OK /m, 30_000);

    // Act
    const stopped = await terminate(cli);

    // Assess
    expect(stopped.code, cli.stderr()).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    expect(cli.stderr()).not.toMatch(RUNNING);
  });
});

/** The checkpoint of test/INBOX and the queue's length, read straight from the store's SQLite file. */
function readStore(config: ConfigFile): { lastUid: number; queued: number } {
  const db = new Database(join(config.storeDir, 'postroom.db'), { readonly: true });
  try {
    const checkpoint = db
      .prepare<[], { last_uid: number }>(
        "SELECT last_uid FROM checkpoints WHERE account = 'test' AND mailbox = 'INBOX'",
      )
      .get();
    const { n } = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM queue_messages').get()!;
    return { lastUid: checkpoint?.last_uid ?? 0, queued: n };
  } finally {
    db.close();
  }
}

describe('postroom run --trace', () => {
  it.each(['login', 'plain'] as const)(
    'shows the IMAP dialog and never the password (auth.method: %s)',
    async (method) => {
      // Prepare
      const user = freshUser(info(), `run-trace-${method}`);
      const [uid] = await append(user, [textMessage(1, { namespace: user.user })]);
      const config = writeRunConfig(
        testAccount(info(), user, { tls: false, method, idle: true, start: 'all' }),
      );
      const cli = startRun(config, user, ['--trace', '--verbose']);

      // Act: a full cycle (poll, process, IDLE), then a stop.
      await cli.waitForStderr(RUNNING, 30_000);
      await eventFor(cli, config, uid!, 30_000);
      await cli.waitForStderr(/^C: \S+ IDLE$/m, 15_000);
      const result = await terminate(cli);

      // Assess
      expect(result.code, cli.stderr()).toBe(0);
      const output = cli.stdout() + cli.stderr();
      expect(output).toMatch(method === 'login' ? /^C: \S+ LOGIN /m : /^C: \S+ AUTHENTICATE PLAIN/m);
      expect(output).toMatch(/^S: \S+ OK /m);
      expect(output).toMatch(/^C: \S+ UID FETCH /m);
      expect(output).not.toContain(user.password);
      for (const authzid of ['', user.user]) {
        const saslPlain = Buffer.from(`${authzid}\0${user.user}\0${user.password}`).toString('base64');
        expect(output).not.toContain(saslPlain);
      }
    },
  );
});
