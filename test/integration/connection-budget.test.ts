/**
 * The connection budget and session reuse with real parts: real `postroom`
 * processes sharing one store folder (their slots in its SQLite database),
 * the private Dovecot, and a counting proxy in front of it that sees every
 * connection and command. One LOGIN per account for a drain of many batches
 * and for `postroom run`'s polls and drains; several pollers, processors and
 * an IDLE watch on one account never open more sessions than
 * `maxConnections`, and none of them fails.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { openAwsRuntime } from '#lib/composition/aws.ts';
import { connectionBudget } from '#lib/config/connection-budget.ts';
import { type AccountConfig, configSchema } from '#lib/config/schema.ts';
import { pollAccount } from '#lib/core/poll.ts';
import { silentLogger } from '#lib/ports.ts';
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
  appendMessages,
  dovecotInfo,
  freshUser,
  type TestUser,
  testAccount,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { createStateTable } from '../helpers/dynamo-emulator.ts';
import { createBucket, createQueue } from '../helpers/emulators.ts';
import { type ImapProxy, startImapProxy } from '../helpers/imap-proxy.ts';
import { useAwsEmulatorEnvironment } from '../helpers/ingest-harness.ts';

/** An IMAP action (so each drain opens a session) and an event (so "processed" can be read) for every message. */
const EVERY_MESSAGE = [
  {
    name: 'everything',
    when: { size: { over: '1 B' } },
    then: [{ flag: ['\\Flagged'] }, { emit: 'mail.received' }],
  },
];

const proxies: ImapProxy[] = [];
afterEach(async () => {
  await killAllPostroom();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

async function setup(
  prefix: string,
  messages: number,
  overrides: Partial<AccountConfig> = {},
): Promise<{ user: TestUser; proxy: ImapProxy; config: ConfigFile; env: Record<string, string> }> {
  const info = dovecotInfo();
  const user = freshUser(info, prefix);
  await withSetupClient(info, user, (client) =>
    appendMessages(
      client,
      'INBOX',
      Array.from({ length: messages }, (_, i) => textMessage(i + 1, { namespace: user.user })),
    ),
  );
  const proxy = await startImapProxy({ host: info.host, port: info.ports.full.imap });
  proxies.push(proxy);
  const account = {
    ...testAccount(info, user, { tls: false, start: 'all', ...overrides }),
    host: proxy.host,
    port: proxy.port,
  };
  const config = writeConfigFile({ accounts: [account], rules: EVERY_MESSAGE }, `postroom-${prefix}-`);
  return { user, proxy, config, env: { POSTROOM_TEST_PASSWORD: user.password } };
}

const processedUids = (config: ConfigFile) =>
  new Set(readEventsFile(config.eventsFile).map((event) => event.detail.uid));

async function until(cli: CliProcess, what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (cli.hasExited()) throw new Error(`postroom run exited before ${what}:\n${cli.stderr().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms:\n${cli.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(cli: CliProcess): Promise<number | null> {
  cli.signal('SIGTERM');
  const kill = setTimeout(() => cli.signal('SIGKILL'), 15_000);
  const { code } = await cli.exited;
  clearTimeout(kill);
  return code;
}

describe('session reuse', () => {
  it('postroom process of several batches logs in once, and sends ID once', async () => {
    // Prepare
    const { proxy, config, env } = await setup('reuse-process', 30);
    const polled = await runPostroom(['poll', '--config', config.file], { env });
    expect(polled.code, polled.stderr).toBe(0);
    proxy.reset();
    // Act
    const processed = await runPostroom(['process', '--config', config.file, '--batch-size', '10'], { env });
    // Assess
    expect(processed.code, processed.stderr).toBe(0);
    expect(processedUids(config).size).toBe(30);
    expect(proxy.count('LOGIN')).toBe(1);
    expect(proxy.count('ID')).toBe(1);
    expect(proxy.count('LOGOUT')).toBe(1);
  });

  it('postroom run logs in once for its polls and drains', async () => {
    // Prepare
    const { user, proxy, config, env } = await setup('reuse-run', 5, { schedule: 'rate(1 second)' });
    const cli = spawnPostroom(['run', '--config', config.file], { env });
    await until(cli, 'the first 5 were processed', () => processedUids(config).size === 5, 30_000);
    // Act: more mail, found by a later scheduled poll and processed by a later drain
    await withSetupClient(dovecotInfo(), user, (client) =>
      appendMessages(
        client,
        'INBOX',
        [6, 7, 8].map((i) => textMessage(i, { namespace: user.user })),
      ),
    );
    await until(cli, 'all 8 were processed', () => processedUids(config).size === 8, 30_000);
    const code = await stop(cli);
    // Assess
    expect(code, cli.stderr()).toBe(0);
    expect(proxy.count('LOGIN')).toBe(1);
    expect(proxy.count('EXAMINE')).toBeGreaterThanOrEqual(2);
    expect(proxy.count('SELECT')).toBeGreaterThanOrEqual(2);
  });
});

describe('session reuse in a warm Lambda', () => {
  it('reuses the session across invocations of one runtime (module scope), holding one DynamoDB slot', async () => {
    // Prepare: the AWS adapters against the emulators, as the poll function composes them
    useAwsEmulatorEnvironment();
    const { emulators } = inject('servers');
    const name = `budget-${Date.now().toString(36)}`;
    await createBucket(emulators.s3, name);
    const queueUrl = await createQueue(emulators.sqs, name);
    const table = await createStateTable(emulators.dynamodb, name);
    const { user, proxy } = await setup('warm', 3);
    const info = dovecotInfo();
    const account = {
      ...testAccount(info, user, { tls: false, start: 'all' }),
      host: proxy.host,
      port: proxy.port,
    };
    const config = configSchema.parse({ accounts: [], rules: [] });
    config.accounts.push(account);
    const store = { kind: 'aws' as const, bucket: name, queueUrl, table };
    process.env.POSTROOM_TEST_PASSWORD = user.password;
    const runtime = openAwsRuntime(config, { logger: silentLogger, store });
    const slots = runtime.stores.slots!;
    const { key } = connectionBudget(account);
    // Act: three invocations, each with its own deadline
    const fetched: number[] = [];
    for (let invocation = 0; invocation < 3; invocation++) {
      const result = await pollAccount(runtime.pollDependencies(`req-${invocation}`), {
        account,
        ingest: config.ingest,
        sessionDeadline: Date.now() + 30_000,
      });
      fetched.push(result.fetched);
    }
    const heldWhilePooled = await slots.held(key);
    await runtime.close();
    // Assess
    expect(fetched).toEqual([3, 0, 0]);
    expect(proxy.count('LOGIN')).toBe(1);
    expect(proxy.count('EXAMINE')).toBe(3);
    expect(heldWhilePooled).toBe(1);
    expect(await slots.held(key)).toBe(0);
    expect(proxy.count('LOGOUT')).toBe(1);
  });
});

describe('connection budget', () => {
  it('keeps pollers, processors and an IDLE watch of one account within maxConnections, and none fails', async () => {
    // Prepare
    const { proxy, config, env } = await setup('budget', 60, { maxConnections: 2, idle: true });
    const run = spawnPostroom(['run', '--config', config.file], { env });
    await run.waitForStderr(/postroom is running/, 30_000);
    // Act: two pollers and two processors at once, besides `run` and its IDLE watch
    const others = await Promise.all([
      runPostroom(['poll', '--config', config.file], { env }),
      runPostroom(['process', '--config', config.file, '--batch-size', '10'], { env }),
      runPostroom(['poll', '--config', config.file], { env }),
      runPostroom(['process', '--config', config.file, '--batch-size', '10'], { env }),
    ]);
    await until(run, 'all 60 were processed', () => processedUids(config).size === 60, 60_000);
    const code = await stop(run);
    // Assess
    for (const other of others) expect(other.code, other.stderr).toBe(0);
    expect(code, run.stderr()).toBe(0);
    expect(readEventsFile(config.eventsFile)).toHaveLength(60);
    expect(proxy.peakConnections()).toBe(2);
  });
});
