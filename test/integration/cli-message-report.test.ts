/**
 * What `postroom process`, `poll` and `run` tell a user about each message,
 * through the real binary against the private Dovecot: actions in config
 * order, a failed action with its reason and the actions it left undone, the
 * cause of a failed webhook, why a first poll with `start: new` fetched
 * nothing, `run`'s per-message table and JSON lines, and `run` saying it is
 * back after the server was unreachable.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import { textMessage } from '../fixtures/messages.ts';
import {
  type CliProcess,
  killAllPostroom,
  runPostroom,
  spawnPostroom,
  writeConfigFile,
} from '../helpers/cli.ts';
import {
  appendMessages,
  dovecotInfo,
  freshUser,
  type TestUser,
  testAccount,
  variantPorts,
  withSetupClient,
} from '../helpers/dovecot.ts';

const info = () => dovecotInfo();
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await killAllPostroom();
  for (const close of closers.splice(0)) await close();
});

function envFor(user: TestUser): Record<string, string> {
  return { POSTROOM_TEST_PASSWORD: user.password, HOOK_SECRET: 'hook-secret-value' };
}

async function append(user: TestUser, count: number, from = 1): Promise<number[]> {
  return withSetupClient(info(), user, (client) =>
    appendMessages(
      client,
      'INBOX',
      Array.from({ length: count }, (_, i) => textMessage(from + i, { namespace: user.user })),
    ),
  );
}

/** The table row of the message with this UID. */
function rowOf(stdout: string, uid: number): string {
  const row = stdout.split('\n').find((line) => line.startsWith(`${uid} `));
  if (!row) throw new Error(`no row for UID ${uid} in:\n${stdout}`);
  return row;
}

/** Resolves when `read()` matches, failing with the output when the process exits or time runs out. */
async function until(cli: CliProcess, what: RegExp, read: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!what.test(read())) {
    if (cli.hasExited() || Date.now() > deadline)
      throw new Error(`no ${what}:\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('postroom process: what each message got', () => {
  it('lists actions in config order, a failed move with its reason, and what it left not done', async () => {
    // Prepare: this user has no \Archive folder; `keep` comes before `tag` in the config,
    // though the server-side phases set flags before they copy.
    const user = freshUser(info(), 'report');
    const account = testAccount(info(), user, { tls: false });
    const config = writeConfigFile({
      accounts: [account],
      rules: [
        { name: 'keep', when: { subject: 'Message 1' }, then: [{ copy: 'Kept' }] },
        {
          name: 'archive',
          when: { subject: 'Message 2' },
          then: [{ move: { specialUse: '\\Archive' } }, { emit: 'archived' }],
        },
        { name: 'tag', then: [{ flag: 'tagged' }] },
      ],
    });
    const [kept, archived] = await append(user, 2);
    expect((await runPostroom(['poll', '--config', config.file], { env: envFor(user) })).code).toBe(0);

    // Act
    const human = await runPostroom(['process', '--config', config.file], { env: envFor(user) });

    // Assess
    expect(human.code, human.stderr).toBe(1);
    expect(rowOf(human.stdout, kept!)).toMatch(/copy Kept; flag tagged/);
    const row = rowOf(human.stdout, archived!);
    expect(row).toContain('move \\Archive (failed: no \\Archive (special-use) folder on the server)');
    expect(row).toContain('emit archived (not done)');
    expect(row).toContain('flag tagged (not done)');
  });

  it('says why a webhook failed: the refused connection, not only "fetch failed"', async () => {
    // Prepare: a port nothing listens on.
    const port = await freePort();
    const user = freshUser(info(), 'hook');
    const config = writeConfigFile({
      accounts: [testAccount(info(), user, { tls: false })],
      rules: [
        {
          name: 'notify',
          then: [
            { webhook: { url: `http://127.0.0.1:${port}/hook`, secret: { env: 'HOOK_SECRET' }, retries: 0 } },
          ],
        },
      ],
    });
    const [uid] = await append(user, 1);
    expect((await runPostroom(['poll', '--config', config.file], { env: envFor(user) })).code).toBe(0);

    // Act
    const human = await runPostroom(['process', '--config', config.file], { env: envFor(user) });

    // Assess
    expect(human.code).toBe(1);
    expect(rowOf(human.stdout, uid!)).toMatch(
      new RegExp(`webhook 127\\.0\\.0\\.1:${port} \\(failed: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`),
    );
  });
});

describe('postroom poll: the first poll with start: new', () => {
  it('says that it starts after the newest UID and leaves existing mail alone', async () => {
    // Prepare
    const user = freshUser(info(), 'startnew');
    const uids = await append(user, 3);
    const config = writeConfigFile({ accounts: [testAccount(info(), user, { tls: false, start: 'new' })] });

    // Act
    const first = await runPostroom(['poll', '--config', config.file], { env: envFor(user) });
    const second = await runPostroom(['poll', '--config', config.file], { env: envFor(user) });

    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/fetched 0 messages/);
    expect(first.stderr).toContain(
      `first poll of test/INBOX: starting after UID ${uids[2]} (start: new) — existing mail is not processed (3 messages;`,
    );
    expect(second.stderr).not.toContain('first poll');
  });
});

describe('postroom run: what it did, as mail arrives', () => {
  function runConfig(user: TestUser, overrides: Partial<AccountConfig> = {}) {
    return writeConfigFile({
      accounts: [testAccount(info(), user, { tls: false, schedule: 'rate(1 second)', ...overrides })],
      rules: [
        { name: 'tag', then: [{ flag: 'tagged' }] },
        { name: 'firsts', when: { subject: 'Message 1' }, then: [{ emit: 'first.seen' }] },
      ],
    });
  }

  it('prints the per-message table for mail that arrives while it runs', async () => {
    // Prepare
    const user = freshUser(info(), 'runtable');
    const [before] = await append(user, 1);
    const config = runConfig(user, { mailboxes: ['INBOX', 'No/Such/Folder'] });
    const cli = spawnPostroom(['run', '--config', config.file], { env: envFor(user) });
    await until(
      cli,
      new RegExp(`^${before} +Text message 1 +tag, firsts +flag tagged; emit first\\.seen`, 'm'),
      cli.stdout,
      30_000,
    );

    // Act
    const [later] = await append(user, 1, 2);

    // Assess
    await until(cli, new RegExp(`^${later} +Text message 2 +tag +flag tagged`, 'm'), cli.stdout, 30_000);
    expect(cli.stdout()).toMatch(/^uid +subject +rules +actions +reason$/m);
    // The mailbox that failed while INBOX went on is said, with its account.
    expect(cli.stderr()).toMatch(/^error: test\/No\/Such\/Folder: .*No\/Such\/Folder/m);
    cli.signal('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('with --json writes one JSON line per processed message', async () => {
    // Prepare
    const user = freshUser(info(), 'runjson');
    const uids = await append(user, 2);
    const cli = spawnPostroom(['run', '--json', '--config', runConfig(user).file], { env: envFor(user) });

    // Act
    await until(cli, /(.*\n){2}/, cli.stdout, 30_000);
    cli.signal('SIGTERM');
    const { stdout, code } = await cli.exited;

    // Assess
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        account: 'test',
        mailbox: 'INBOX',
        uid: uids[0],
        subject: 'Text message 1',
        status: 'done',
        rules: ['tag', 'firsts'],
        actions: [
          expect.objectContaining({ rule: 'tag', kind: 'flag', detail: 'tagged', status: 'done' }),
          expect.objectContaining({ rule: 'firsts', kind: 'emit', detail: 'first.seen', status: 'done' }),
        ],
      }),
      expect.objectContaining({ uid: uids[1], status: 'done', rules: ['tag'] }),
    ]);
  });

  it('says when polls and the IDLE watch are back after the server was unreachable', async () => {
    // Prepare: the run reaches Dovecot through a forwarder the test can take down.
    const user = freshUser(info(), 'runoutage');
    const link = await outageLink(variantPorts(info(), 'full').imap);
    closers.push(() => link.close());
    const config = runConfig(user, { port: link.port, idle: true });
    const cli = spawnPostroom(['run', '--config', config.file], { env: envFor(user) });
    await cli.waitForStderr(/postroom is running: .*IDLE on test\/INBOX/, 30_000);

    // Act: down long enough for a scheduled poll to fail, then back.
    await link.down();
    const downAt = cli.stderr().length;
    await cli.waitForStderr(/poll failed/, 15_000, downAt);
    await link.up();

    // Assess
    await cli.waitForStderr(
      /test: reconnected; polling again after \d+ failed polls? \(down since /,
      15_000,
      downAt,
    );
    await cli.waitForStderr(/test\/INBOX: IDLE reconnected \(lost at /, 30_000, downAt);
    cli.signal('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP forwarder to the Dovecot port that can be taken down (connections refused) and brought back on the same port. */
async function outageLink(targetPort: number) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (port: number) => {
    server = createServer((client) => {
      const upstream = connect(targetPort, info().host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  };
  const port = await listen(0);
  const down = async () => {
    const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
    server = undefined;
  };
  return {
    port,
    down,
    up: async () => {
      await listen(port);
    },
    close: async () => {
      if (server) await down();
    },
  };
}
