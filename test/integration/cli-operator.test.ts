/**
 * The operator's commands through the real `postroom` binary against the
 * private Dovecot, with the local store in a temp folder: `status` after polls
 * (server lag, queued, checkpoint, last error, a server not reached), a dead
 * letter reported by `process`, shown, retried to success and dropped, and
 * `replay` applying a newly added rule once (a second replay does nothing).
 * Mail is arranged and inspected over separate IMAP sessions.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '#lib/adapters/local/sqlite.ts';
import { SqliteLeaseStore } from '#lib/adapters/local/sqlite-lease-store.ts';
import type { AccountConfig } from '#lib/config/schema.ts';
import { pollLeaseName, rawBlobKey } from '#lib/core/keys.ts';
import type { StatusReport } from '#lib/core/status.ts';
import { textMessage } from '../fixtures/messages.ts';
import {
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
  getFlags,
  mailboxStatus,
  type TestUser,
  testAccount,
  withSetupClient,
} from '../helpers/dovecot.ts';

afterEach(() => killAllPostroom());

interface Setup {
  user: TestUser;
  account: AccountConfig;
  config: ConfigFile;
  run(args: string[]): ReturnType<typeof runPostroom>;
  json<T>(args: string[]): Promise<T>;
  append(count: number, from?: number): Promise<number[]>;
  flags(): Promise<Map<number, string[]>>;
  writeConfig(extra: Record<string, unknown>): void;
}

function setup(
  extra: Record<string, unknown>,
  accounts: (account: AccountConfig) => AccountConfig[] = (a) => [a],
): Setup {
  const info = dovecotInfo();
  const user = freshUser(info, 'op');
  const account = testAccount(info, user, { tls: false });
  const config = writeConfigFile({ accounts: accounts(account), ...extra }, 'postroom-operator-');
  const run = (args: string[]) =>
    runPostroom([...args, '--config', config.file], { env: { POSTROOM_TEST_PASSWORD: user.password } });
  return {
    user,
    account,
    config,
    run,
    async json<T>(args: string[]) {
      const result = await run([...args, '--json']);
      try {
        return JSON.parse(result.stdout) as T;
      } catch {
        throw new Error(
          `postroom ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`,
        );
      }
    },
    append: (count, from = 1) =>
      withSetupClient(info, user, (client) =>
        appendMessages(
          client,
          'INBOX',
          Array.from({ length: count }, (_, i) => textMessage(from + i, { namespace: user.user })),
        ),
      ),
    flags: () => withSetupClient(info, user, (client) => getFlags(client, 'INBOX')),
    writeConfig: (next) =>
      writeFileSync(
        config.file,
        JSON.stringify({
          store: { kind: 'local', dir: config.storeDir },
          accounts: accounts(account),
          ...next,
        }),
      ),
  };
}

/** A loopback port nothing listens on (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const FLAG_ALL = {
  name: 'tag',
  when: { header: { name: 'X-None', exists: false } },
  then: [{ flag: 'tagged' }],
};

describe('postroom status', () => {
  it('reports last poll, server lag, queued mail, checkpoint and a server not reached', async () => {
    // Prepare: one account that works, one whose server is down.
    const port = await closedPort();
    const op = setup({ rules: [FLAG_ALL] }, (a) => [a, { ...a, id: 'down', host: '127.0.0.1', port }]);
    const uids = await op.append(3);
    await op.run(['poll']);
    await op.append(2, 10);
    // Another poller holds the down account's mailbox (as a poll in another process would).
    const leases = new SqliteLeaseStore({
      db: openDatabase(join(op.config.storeDir, 'postroom.db'), 'process'),
    });
    await leases.acquire(pollLeaseName('down', 'INBOX'), 'elsewhere:42', 120_000);

    // Act
    const report = await op.json<StatusReport>(['status', '--timeout', '5']);
    const text = await op.run(['status', '--account', 'test']);
    await op.run(['process']);
    const after = await op.json<StatusReport>(['status', '--account', 'test']);

    // Assess
    const { uidValidity } = await withSetupClient(dovecotInfo(), op.user, (c) => mailboxStatus(c, 'INBOX'));
    const [test, down] = report.accounts;
    expect(test!.mailboxes[0]).toMatchObject({
      account: 'test',
      mailbox: 'INBOX',
      lastPoll: { at: expect.any(String), ageSeconds: expect.any(Number) },
      lastError: null,
      checkpoint: { uidValidity, lastUid: uids[2] },
      lease: null,
      lag: { server: 2, queued: 3 },
      deadLetters: 0,
    });
    expect(down!.mailboxes[0]).toMatchObject({
      lease: { owner: 'elsewhere:42', until: expect.any(String) },
      lastPoll: null,
      lastError: { message: expect.any(String) },
      lag: { server: null, serverError: expect.stringMatching(/^server not reached: /) },
    });
    expect(report.queue).toEqual({ queued: 3, inFlight: 0, deadLetters: 0 });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/test\s+INBOX\s+\S+ \(\d+s ago\)\s+2 on server, 3 queued\s+\d+\/\d+/);
    expect(text.stdout).toContain('queue: 3 waiting, 0 in flight, 0 dead letters');
    expect(after.accounts[0]!.mailboxes[0]!.lag).toEqual({ server: 2, queued: 0 });
  });

  it('exits 1 when a server is not reached, and 2 for bad usage', async () => {
    // Prepare
    const port = await closedPort();
    const op = setup({}, (a) => [{ ...a, port }]);

    // Act
    const down = await op.run(['status']);
    const storeOnly = await op.run(['status', '--no-server']);
    const badTimeout = await op.run(['status', '--timeout', 'soon']);
    const badAccount = await op.run(['status', '--account', 'nobody']);

    // Assess
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/test\/INBOX: server not reached: /);
    expect(storeOnly.code).toBe(0);
    expect(storeOnly.stdout).toContain('server not asked (--no-server)');
    expect(badTimeout.code).toBe(2);
    expect(badAccount.code).toBe(2);
    expect(badAccount.stderr).toContain('expected one of test');
  });
});

describe('postroom dead-letters', () => {
  it('shows what process dead-lettered and why, retries one to success and drops the other', async () => {
    // Prepare: every message needs its raw copy; two of three are lost, and one try is all they get.
    const op = setup({ rules: [FLAG_ALL], aws: { processor: { maxReceives: 1 } } });
    const uids = await op.append(3);
    await op.run(['poll']);
    const { uidValidity } = await withSetupClient(dovecotInfo(), op.user, (c) => mailboxStatus(c, 'INBOX'));
    const blob = (uid: number) =>
      join(op.config.storeDir, rawBlobKey({ account: 'test', mailbox: 'INBOX', uidValidity, uid }));
    for (const uid of [uids[0]!, uids[1]!]) renameSync(blob(uid), `${blob(uid)}.away`);

    // Act
    const processed = await op.run(['process']);
    const listed = await op.json<{
      deadLetters: { id: string; uid: number; reason: string; receiveCount: number }[];
    }>(['dead-letters', 'list']);
    const [first, second] = listed.deadLetters;
    const shown = await op.run(['dead-letters', 'show', first!.id]);
    renameSync(`${blob(uids[0]!)}.away`, blob(uids[0]!));
    const retried = await op.json<{ retried: string[]; missing: string[] }>([
      'dead-letters',
      'retry',
      first!.id,
    ]);
    const again = await op.json<{ processed: number; failed: number; deadLettered: number }>(['process']);
    const dropped = await op.run(['dead-letters', 'drop', second!.id, '999']);
    const left = await op.json<{ deadLetters: unknown[] }>(['dead-letters', 'list']);
    const noIds = await op.run(['dead-letters', 'retry']);

    // Assess
    expect(processed.code).toBe(1);
    expect(processed.stderr).toContain(`dead-lettered test/INBOX UID ${uids[0]}: no blob at`);
    expect(processed.stdout).toContain('processed 1, failed 2, dead-lettered 2 (flag 1)');
    expect(listed.deadLetters.map((d) => [d.uid, d.receiveCount])).toEqual([
      [uids[0], 1],
      [uids[1], 1],
    ]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/reason: +no blob at/);
    expect(shown.stdout).toMatch(/receives: +1/);
    expect(shown.stdout).toMatch(new RegExp(`uid: +${uids[0]} \\(UIDVALIDITY ${uidValidity}\\)`));
    expect(shown.stdout).toMatch(/subject: +\S/);
    expect(retried).toEqual({ retried: [first!.id], missing: [] });
    expect(again).toMatchObject({ processed: 1, failed: 0, deadLettered: 0 });
    const flags = await op.flags();
    expect(flags.get(uids[0]!)).toContain('tagged');
    expect(flags.get(uids[1]!)).not.toContain('tagged');
    expect(dropped.code).toBe(1);
    expect(dropped.stdout).toContain(`dropped: 1 (${second!.id})`);
    expect(dropped.stderr).toContain('no dead letter 999');
    expect(left.deadLetters).toEqual([]);
    expect(noIds.code).toBe(2);
  });
});

describe('postroom run and dead letters', () => {
  it('says when a message goes to the dead letters, with its reason', async () => {
    // Prepare: a move to a special-use folder the user does not have fails every time; one try is all it gets.
    const op = setup({
      rules: [{ name: 'archive', when: { subject: 'Text' }, then: [{ move: { specialUse: '\\Archive' } }] }],
      aws: { processor: { maxReceives: 1 } },
    });
    const [uid] = await op.append(1);

    // Act
    const cli = spawnPostroom(['run', '--config', op.config.file], {
      env: { POSTROOM_TEST_PASSWORD: op.user.password },
    });
    await cli.waitForStderr(/dead-lettered test\/INBOX UID \d+: .*/, 60_000);
    cli.signal('SIGTERM');
    const result = await cli.exited;

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`dead-lettered test/INBOX UID ${uid}: .*Archive`));
  });
});

describe('postroom replay', () => {
  it('applies a newly added rule to stored mail once; a second replay does nothing', async () => {
    // Prepare: two messages processed under the first rule, then a rule added.
    const op = setup({ rules: [FLAG_ALL] });
    const uids = await op.append(2);
    await op.run(['poll']);
    await op.run(['process']);
    op.writeConfig({
      rules: [
        FLAG_ALL,
        {
          name: 'late',
          when: { subject: { contains: '' } },
          then: [{ flag: 'late' }, { emit: 'mail.late' }],
        },
      ],
    });
    const replay = ['replay', '--account', 'test', '--mailbox', 'INBOX', '--uids', '1:*'];
    type Result = { applied: boolean; messages: number; todo: number; alreadyDone: number; failed: number };

    // Act
    const dry = await op.json<Result & { items: { actions: { kind: string; status: string }[] }[] }>(replay);
    const dryText = await op.run(replay);
    const flagsAfterDry = await op.flags();
    const applied = await op.json<Result>([...replay, '--apply']);
    const second = await op.json<Result>([...replay, '--apply']);
    const missingChoice = await op.run(['replay', '--account', 'test', '--mailbox', 'INBOX']);
    const badDate = await op.run([
      'replay',
      '--account',
      'test',
      '--mailbox',
      'INBOX',
      '--since',
      'yesterday',
    ]);

    // Assess
    expect(dry).toMatchObject({ applied: false, messages: 2, todo: 4, alreadyDone: 2, failed: 0 });
    expect(dry.items[0]!.actions.map((a) => [a.kind, a.status])).toEqual([
      ['flag', 'already-done'],
      ['flag', 'pending'],
      ['emit', 'pending'],
    ]);
    expect(dryText.stdout).toContain('flag tagged (already-done); flag late (to do)');
    expect(dryText.stdout).toContain('dry run: 2 messages');
    for (const uid of uids) expect(flagsAfterDry.get(uid)).not.toContain('late');
    expect(applied).toMatchObject({ applied: true, messages: 2, todo: 4, alreadyDone: 2, failed: 0 });
    expect(second).toMatchObject({ applied: true, messages: 2, todo: 0, alreadyDone: 6, failed: 0 });
    const flags = await op.flags();
    for (const uid of uids) expect(flags.get(uid)).toEqual(expect.arrayContaining(['tagged', 'late']));
    expect(readEventsFile(op.config.eventsFile).map((e) => [e['detail-type'], e.detail.uid])).toEqual(
      uids.map((uid) => ['mail.late', uid]),
    );
    expect(missingChoice.code).toBe(2);
    expect(badDate.code).toBe(2);
  });
});
