/**
 * `npm run bench:fleet`: one poll cycle over a fleet of mailboxes.
 *
 * 1,000 Dovecot users on a private Dovecot, 5% of them with new mail. Side by
 * side in one run:
 *   raw    a raw client that logs in, EXAMINEs INBOX and logs out of every
 *          mailbox over 16 parallel connections (the protocol's floor here)
 *   local  `pollAccounts` (what `postroom poll` and `postroom run` do) with
 *          the local stand-ins, 16 accounts at once
 *   aws    the same through the AWS adapters against the emulators (in AWS:
 *          the group invocations of the poll function)
 * each first with the mail (one full cycle), then empty, logging in to every
 * mailbox; then once more with the session pool kept between cycles (what a
 * warm poll function or `postroom run` does: no login). Prints wall time,
 * IMAP sessions opened, AWS requests by operation and DynamoDB writes per
 * empty mailbox. Targets: the empty cycle within 1.2× the raw client; 0
 * DynamoDB writes per empty mailbox.
 *
 * Environment: BENCH_MAILBOXES (1000), BENCH_MAIL_SHARE (0.05),
 * BENCH_MESSAGES_EACH (5, per mailbox with mail), BENCH_CONCURRENCY (16).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoCheckpointStore } from '#lib/adapters/aws/dynamodb-checkpoint-store.ts';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { connectionSlotsMode } from '#lib/config/connection-budget.ts';
import { configSchema, type PostroomConfig } from '#lib/config/schema.ts';
import { pollAccounts } from '#lib/core/poll-fleet.ts';
import { silentLogger } from '#lib/ports.ts';
import { startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { forEachLimited } from '#lib/work-pool.ts';
import { textMessage } from '../test/fixtures/messages.ts';
import {
  countAwsRequests,
  countsSince,
  dynamoWrites,
  type RequestCounts,
  snapshotCounts,
} from '../test/helpers/aws-request-counter.ts';
import { startAwsWorldProcess } from './lib/aws-world.ts';
import { rawConnectExamine } from './lib/raw-imap.ts';
import { benchAccount, seedMailboxes } from './lib/seed-mailboxes.ts';

const MAILBOXES = Number(process.env.BENCH_MAILBOXES ?? 1000);
const MAIL_SHARE = Number(process.env.BENCH_MAIL_SHARE ?? 0.05);
const MESSAGES_EACH = Number(process.env.BENCH_MESSAGES_EACH ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const PASSWORD = 'bench-fleet-password';

const dovecot = await startPrivateDovecot();
const world = await startAwsWorldProcess();
countAwsRequests();
const storeDir = mkdtempSync(join(tmpdir(), 'postroom-fleet-'));
try {
  const users = Array.from({ length: MAILBOXES }, (_, i) => `fleet${i}`);
  for (const user of users) dovecot.addUser(user, PASSWORD);
  const withMail = users.filter((_, i) => i % Math.round(1 / MAIL_SHARE) === 0);

  const baseConfig = (store: PostroomConfig['store']) =>
    configSchema.parse({
      store,
      accounts: users.map((user) => benchAccount(dovecot.ports.full.imap, user)),
    });
  process.env.BENCH_PASSWORD = PASSWORD;
  // As the construct would set it for this fleet with the default processor concurrency (2): the aws
  // cycles stand for the poll function.
  process.env.POSTROOM_CONNECTION_SLOTS = connectionSlotsMode(
    baseConfig({ kind: 'local', dir: '.' }).accounts,
    2,
  );

  const raw = async (): Promise<number> => {
    const started = performance.now();
    await forEachLimited(users, 16, async (user) => {
      await rawConnectExamine('127.0.0.1', dovecot.ports.full.imap, user, PASSWORD);
    });
    return performance.now() - started;
  };

  const seed = async (): Promise<void> => {
    await seedMailboxes(dovecot.ports.full.imap, withMail, PASSWORD, (user) =>
      Array.from({ length: MESSAGES_EACH }, (_, i) => textMessage(i, { namespace: user })),
    );
  };

  interface Cycle {
    ms: number;
    fetched: number;
    sessions: number;
    failures: number;
    requests: RequestCounts;
  }

  // `pooled`: the runtime keeps each account's session between cycles (a warm
  // Lambda, `postroom run`): a cycle after the first logs in nowhere. Cold: every
  // cycle logs in to every mailbox, as the raw client does.
  const cycles = async (kind: 'local' | 'aws', pooled: boolean) => {
    const store: PostroomConfig['store'] =
      kind === 'local'
        ? { kind: 'local', dir: join(storeDir, 'local') }
        : { kind: 'aws', bucket: world.bucket, queueUrl: world.queueUrl, table: world.table };
    const config = baseConfig(store);
    const runtime = await openRuntime(config, {
      logger: silentLogger,
      ...(pooled ? {} : { sessionIdleMs: 0 }),
    });
    let sessions = 0;
    const deps = {
      ...runtime.pollDependencies(),
      openSession: ((account, options) => {
        sessions++;
        return runtime.openSession(account, options);
      }) as typeof runtime.openSession,
    };
    const cycle = async (): Promise<Cycle> => {
      sessions = 0;
      const before = snapshotCounts();
      const started = performance.now();
      const result = await pollAccounts(deps, {
        accounts: config.accounts,
        concurrency: CONCURRENCY,
        ingest: config.ingest,
      });
      const ms = performance.now() - started;
      return {
        ms,
        fetched: result.fetched,
        sessions,
        failures: result.failures.length,
        requests: countsSince(before),
      };
    };
    // First contact (every checkpoint written), not measured; then the new mail arrives.
    await cycle();
    await seed();
    const mail = await cycle();
    const empty = await cycle();
    await runtime.close();
    return { mail, empty };
  };

  const rawBefore = await raw();
  const local = await cycles('local', false);
  const aws = await cycles('aws', false);
  const localWarm = await cycles('local', true);
  const awsWarm = await cycles('aws', true);
  const rawAfter = await raw();
  // The emulator's own pace, for reading the aws cycles: in AWS the
  // read overlaps the login instead.
  const checkpoints = new DynamoCheckpointStore({ tableName: world.table });
  const readsStarted = performance.now();
  await forEachLimited(users, CONCURRENCY, async (user) => {
    await checkpoints.get(user, 'INBOX');
  });
  const readsMs = performance.now() - readsStarted;
  const rawMs = Math.min(rawBefore, rawAfter);

  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `\n${MAILBOXES} mailboxes, ${withMail.length} with ${MESSAGES_EACH} new messages each; ` +
      `${CONCURRENCY} accounts at once; raw client over 16 connections: ${s(rawBefore)} before, ${s(rawAfter)} after\n`,
  );
  const rows = [
    [
      'cycle (logging in to every mailbox unless pooled)',
      'wall',
      '× raw',
      'fetched',
      'IMAP sessions',
      'failures',
    ],
    ['raw login+EXAMINE+logout', s(rawMs), '1.00', '-', String(MAILBOXES), '-'],
    ...(
      [
        ['local, with mail', local.mail],
        ['local, empty', local.empty],
        ['aws, with mail', aws.mail],
        ['aws, empty', aws.empty],
        ['local, empty, pooled sessions', localWarm.empty],
        ['aws, empty, pooled sessions', awsWarm.empty],
      ] as const
    ).map(([name, c]) => [
      name,
      s(c.ms),
      (c.ms / rawMs).toFixed(2),
      String(c.fetched),
      String(c.sessions),
      String(c.failures),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));

  for (const [name, c] of [
    ['aws, with mail', aws.mail],
    ['aws, empty', aws.empty],
  ] as const) {
    console.log(`\nAWS requests, ${name}:`);
    for (const [key, n] of [...c.requests].sort()) console.log(`  ${key.padEnd(28)} ${n}`);
  }
  console.log(
    `\nThe DynamoDB emulator alone: ${MAILBOXES} checkpoint reads, ${CONCURRENCY} in flight: ${s(readsMs)} ` +
      '(beside the aws cycles: the emulator runs on the same two cores)',
  );
  const writesPerEmpty = dynamoWrites(aws.empty.requests) / MAILBOXES;
  console.log(
    `\nDynamoDB writes per empty mailbox: ${writesPerEmpty} (empty cycle); ` +
      `mail cycle: ${dynamoWrites(aws.mail.requests)} writes for ${withMail.length} mailboxes with mail`,
  );
  const ratio = Math.max(local.empty.ms, aws.empty.ms) / rawMs;
  console.log(
    `targets: empty cycle (logging in to every mailbox) within 1.2× raw: ${ratio <= 1.2 ? 'met' : 'NOT met'} ` +
      `(local ${(local.empty.ms / rawMs).toFixed(2)}×, aws ${(aws.empty.ms / rawMs).toFixed(2)}×); ` +
      `0 DynamoDB writes per empty mailbox: ${writesPerEmpty === 0 ? 'met' : 'NOT met'}`,
  );
} finally {
  await world.stop();
  await dovecot.stop();
  rmSync(storeDir, { recursive: true, force: true });
}
process.exit(0);
