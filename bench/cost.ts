/**
 * `npm run bench:cost`: what Postroom costs on AWS, counted rather than guessed.
 *
 * Runs the Lambda handlers (functions/poll.ts with a group event, then
 * functions/process.ts on SQS batches, as the event source mapping would
 * deliver them) through the AWS adapters against the emulators and a private
 * Dovecot, on a mix of text, HTML and attachment mail with rules that act on
 * the server and, for a share of the mail, call a webhook or emit an event.
 * Every AWS request is counted by service and operation (an SDK middleware);
 * Lambda GB-seconds come from the measured durations × the construct's memory
 * settings. Then an empty cycle is measured the same way. With the list prices
 * in bench/prices.ts it prints the cost per 1M messages and per mailbox-month.
 *
 * Inputs (flag or env): --mailboxes / BENCH_MAILBOXES (1000),
 * --messages-per-day / BENCH_MESSAGES_PER_DAY (20, per mailbox),
 * --schedule / BENCH_SCHEDULE (rate(5 minutes)), --webhook-share /
 * BENCH_WEBHOOK_SHARE (0.2), --event-share / BENCH_EVENT_SHARE (0.5),
 * --sample-mailboxes (32), --sample-messages (400), --cold-share (0.1 of
 * invocations start cold), --init-ms (300: a cold start's billed init, the
 * bench:lambda import target), --retention-months (1: months raw mail is kept),
 * --secret-cache-seconds (3600, as lib/adapters/aws/secrets.ts: how long a warm poller keeps an account's secret).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { SECRET_CACHE_SECONDS as SECRET_CACHE_SECONDS_DEPLOYED } from '#lib/adapters/aws/secrets.ts';
import { connectionSlotsMode } from '#lib/config/connection-budget.ts';
import { validateConfig } from '#lib/config/validate.ts';
import { validatedConfigFile } from '#lib/config/validated-file.ts';
import { startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { deploySettings, pollGroups, scheduleInterval } from '../infra/deploy-config.ts';
import { attachmentMessage, htmlMessage, textMessage } from '../test/fixtures/messages.ts';
import {
  countAwsRequests,
  countsSince,
  type RequestCounts,
  snapshotCounts,
  snapshotItems,
} from '../test/helpers/aws-request-counter.ts';
import { lambdaContext, sqsRecord } from '../test/helpers/lambda-events.ts';
import { startAwsWorldProcess } from './lib/aws-world.ts';
import { benchAccount, seedMailboxes } from './lib/seed-mailboxes.ts';
import { captureStdout } from './lib/stdout-capture.ts';
import { PRICES } from './prices.ts';

const { values } = parseArgs({
  options: {
    mailboxes: { type: 'string' },
    'messages-per-day': { type: 'string' },
    schedule: { type: 'string' },
    'webhook-share': { type: 'string' },
    'event-share': { type: 'string' },
    'sample-mailboxes': { type: 'string' },
    'sample-messages': { type: 'string' },
    'cold-share': { type: 'string' },
    'init-ms': { type: 'string' },
    'retention-months': { type: 'string' },
    'secret-cache-seconds': { type: 'string' },
  },
});
const input = (name: keyof typeof values, env: string, fallback: number | string) =>
  values[name] ?? process.env[env] ?? String(fallback);
const MAILBOXES = Number(input('mailboxes', 'BENCH_MAILBOXES', 1000));
const PER_DAY = Number(input('messages-per-day', 'BENCH_MESSAGES_PER_DAY', 20));
const SCHEDULE = input('schedule', 'BENCH_SCHEDULE', 'rate(5 minutes)');
const WEBHOOK_SHARE = Number(input('webhook-share', 'BENCH_WEBHOOK_SHARE', 0.2));
const EVENT_SHARE = Number(input('event-share', 'BENCH_EVENT_SHARE', 0.5));
const SAMPLE = Number(input('sample-mailboxes', 'BENCH_SAMPLE_MAILBOXES', 32));
const SAMPLE_MESSAGES = Number(input('sample-messages', 'BENCH_SAMPLE_MESSAGES', 400));
const COLD_SHARE = Number(input('cold-share', 'BENCH_COLD_SHARE', 0.1));
const INIT_MS = Number(input('init-ms', 'BENCH_INIT_MS', 300));
const RETENTION_MONTHS = Number(input('retention-months', 'BENCH_RETENTION_MONTHS', 1));
/** Lambda writes START, END and REPORT lines for every invocation. */
const PLATFORM_LOG_BYTES = 350;
/** How long a warm poller keeps a secret: Powertools Parameters' maxAge in lib/adapters/aws/secrets.ts. */
const SECRET_CACHE_SECONDS = Number(
  input('secret-cache-seconds', 'BENCH_SECRET_CACHE_SECONDS', SECRET_CACHE_SECONDS_DEPLOYED),
);
const PASSWORD = 'bench-cost-password';

function messageFor(i: number, namespace: string): Buffer {
  // ~70% text (~4 KB), ~25% HTML (~40 KB), ~5% with a ~1 MB attachment, as bench:ingest.
  const slot = i % 20;
  if (slot === 19) return attachmentMessage(i, 1024 * 1024, { namespace });
  if (slot % 4 === 1) return htmlMessage(i, { namespace });
  return textMessage(i, { namespace });
}

/** A subject regex matching about `share` of the messages (by the last digit of their number). */
const lastDigitUnder = (share: number) => `[0-${Math.max(0, Math.round(share * 10) - 1)}]$`;

function context(): Context {
  return lambdaContext('postroom-bench', 300_000);
}

const dovecot = await startPrivateDovecot();
const world = await startAwsWorldProcess();
let webhookCalls = 0;
const webhooks = createServer((req, res) => {
  webhookCalls++;
  req.resume();
  req.on('end', () => res.end('ok'));
});
await new Promise<void>((resolve) => webhooks.listen(0, '127.0.0.1', resolve));
try {
  const users = Array.from({ length: SAMPLE }, (_, i) => `cost${i}`);
  for (const user of users) dovecot.addUser(user, PASSWORD);
  const config = {
    accounts: users.map((user) => ({ ...benchAccount(dovecot.ports.full.imap, user), schedule: SCHEDULE })),
    rules: [
      { name: 'mark', when: { size: { over: '1 B' } }, then: [{ flag: ['postroom-seen'] }] },
      ...(WEBHOOK_SHARE > 0
        ? [
            {
              name: 'hook',
              when: { subject: { regex: lastDigitUnder(WEBHOOK_SHARE) } },
              then: [
                {
                  webhook: {
                    url: `http://127.0.0.1:${(webhooks.address() as AddressInfo).port}/hook`,
                    secret: { env: 'BENCH_WEBHOOK_SECRET' },
                    retries: 0,
                  },
                },
              ],
            },
          ]
        : []),
      ...(EVENT_SHARE > 0
        ? [
            {
              name: 'event',
              when: { subject: { regex: lastDigitUnder(EVENT_SHARE) } },
              then: [{ emit: 'mail.received' }],
            },
          ]
        : []),
    ],
    aws: { poller: { accountsPerInvocation: SAMPLE } },
  };
  const validated = validateConfig(config);
  const settings = deploySettings(validated);
  Object.assign(process.env, {
    POSTROOM_CONFIG: JSON.stringify(validatedConfigFile(validated)),
    POSTROOM_BUCKET: world.bucket,
    POSTROOM_QUEUE_URL: world.queueUrl,
    POSTROOM_TABLE: world.table,
    POSTROOM_EVENT_BUS: world.eventBus,
    // As the construct sets it for this config.
    POSTROOM_CONNECTION_SLOTS: connectionSlotsMode(validated.accounts, settings.processor.maxConcurrency),
    BENCH_PASSWORD: PASSWORD,
    BENCH_WEBHOOK_SECRET: 'bench-webhook-secret',
    POWERTOOLS_METRICS_NAMESPACE: 'Postroom',
    POWERTOOLS_SERVICE_NAME: 'postroom',
  });
  countAwsRequests();
  const capture = captureStdout();
  const { handler: poll } = await import('../functions/poll.ts');
  const { handler: processBatch } = await import('../functions/process.ts');

  // Seed the sample mailboxes: message i goes to mailbox i mod the sample.
  const bytes = await seedMailboxes(dovecot.ports.full.imap, users, PASSWORD, (user, u) => {
    const messages: Buffer[] = [];
    for (let i = u; i < SAMPLE_MESSAGES; i += users.length) messages.push(messageFor(i, user));
    return messages;
  });

  const group = { group: 'poll-group-1', accounts: users };
  const sqs = new SQSClient({});
  const measure = async <T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> => {
    const started = performance.now();
    const result = await capture.during(fn);
    return { ms: performance.now() - started, result };
  };

  interface MailCycle {
    counts: RequestCounts;
    items: RequestCounts;
    logBytes: number;
    pollMs: number;
    processMs: number;
    processInvocations: number;
    fetched: number;
  }
  /** One cycle with mail: the poll, then the queue drained in batches as Lambda's event source would. */
  const mailCycle = async (): Promise<MailCycle> => {
    const beforeMail = snapshotCounts();
    const itemsBeforeMail = snapshotItems();
    const logBefore = capture.bytes();
    const polled = await measure(() => poll(group as never, context()));
    let processMs = 0;
    let processInvocations = 0;
    let emptyReceives = 0;
    for (let empty = 0; empty < 3; ) {
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: world.queueUrl,
          MaxNumberOfMessages: settings.processor.batchSize,
          AttributeNames: ['All'],
        }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) {
        empty++;
        emptyReceives++;
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      empty = 0;
      const event = {
        Records: messages.map(sqsRecord),
      } as unknown as SQSEvent;
      const processed = await measure(() => processBatch(event, context()));
      processMs += processed.ms;
      processInvocations++;
      const failed = new Set(
        (
          (processed.result as { batchItemFailures?: { itemIdentifier: string }[] })?.batchItemFailures ?? []
        ).map((f) => f.itemIdentifier),
      );
      const done = messages.filter((m) => !failed.has(m.MessageId!));
      if (done.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: world.queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
    }
    const counts = countsSince(beforeMail);
    // The emptiness checks are the benchmark's, not the event source's (its idle polling is a fixed line below).
    counts.set('SQS ReceiveMessage', (counts.get('SQS ReceiveMessage') ?? 0) - emptyReceives);
    return {
      counts,
      items: countsSince(itemsBeforeMail, snapshotItems()),
      logBytes: capture.bytes() - logBefore,
      pollMs: polled.ms,
      processMs,
      processInvocations,
      fetched: (polled.result as { fetched: number }).fetched,
    };
  };

  // Phase A: the seeded mix, many messages per mailbox.
  const bulk = await mailCycle();
  const mailCounts = bulk.counts;
  const mailItems = bulk.items;
  const fetched = bulk.fetched;
  const polled = { ms: bulk.pollMs };
  const processInvocations = bulk.processInvocations;

  // Phase B: an empty cycle.
  const beforeEmpty = snapshotCounts();
  const itemsBeforeEmpty = snapshotItems();
  const emptyLogBefore = capture.bytes();
  const emptyPoll = await measure(() => poll(group as never, context()));
  const emptyCounts = countsSince(beforeEmpty);
  const emptyItems = countsSince(itemsBeforeEmpty, snapshotItems());
  const emptyLogBytes = capture.bytes() - emptyLogBefore;
  const emptyMetrics = capture.metricsSince(emptyLogBefore);

  // Phase C: one new message in every mailbox, as most polls with mail find at a few messages a day.
  // Numbered so that the last digits, which the webhook and event rules test, spread as in the mix.
  await seedMailboxes(dovecot.ports.full.imap, users, PASSWORD, (user, u) => [
    textMessage(10_000 + u, { namespace: user }),
  ]);
  const single = await mailCycle();
  capture.stop();

  // ---- Costs ----
  const memoryGb = { poll: settings.poller.memoryMb / 1024, process: settings.processor.memoryMb / 1024 };
  const requestCost = (counts: RequestCounts, items: RequestCounts): number => {
    let usd = 0;
    for (const [key, n] of counts) {
      const [service, operation = ''] = key.split(' ');
      if (service === 'S3')
        usd +=
          n *
          (/^(Put|Copy|Post|List|Create|Upload|Complete)/.test(operation)
            ? PRICES.s3Put.usd
            : PRICES.s3Get.usd);
      else if (service === 'SQS') usd += n * PRICES.sqsRequest.usd;
      else if (service === 'EventBridge')
        usd += 0; // per event, below
      else if (service === 'SecretsManager') usd += n * PRICES.secretsApiCall.usd;
    }
    return usd + dynamoCost(items);
  };
  function dynamoCost(items: RequestCounts): number {
    let usd = 0;
    for (const [operation, n] of items) {
      // Items under 1 KB (writes) and 4 KB (reads); transactions cost double; GetItem is strongly consistent.
      if (/^(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/.test(operation))
        usd += n * PRICES.dynamoWrite.usd;
      else if (operation === 'TransactWriteItems') usd += 2 * n * PRICES.dynamoWrite.usd;
      else if (/^(GetItem|Query)$/.test(operation)) usd += n * PRICES.dynamoRead.usd;
      else if (operation === 'BatchGetItem') usd += n * PRICES.dynamoRead.usd;
      else if (operation === 'TransactGetItems') usd += 2 * n * PRICES.dynamoRead.usd;
    }
    return usd;
  }
  const dynamoOnly = (items: RequestCounts) => new Map([...items].filter(([op]) => /Item|Query/.test(op)));

  /** What a mail cycle cost beyond an empty cycle, by component (USD). */
  const cycleCost = (c: MailCycle) => {
    const requests = new Map<string, number>();
    for (const [key, n] of c.counts) requests.set(key, n - (emptyCounts.get(key) ?? 0));
    const items = new Map<string, number>();
    for (const [op, n] of dynamoOnly(c.items)) items.set(op, n - (emptyItems.get(op) ?? 0));
    return {
      requests: requestCost(requests, items),
      events: (c.items.get('PutEvents') ?? 0) * PRICES.eventBridgeEvent.usd,
      lambdaRequests: c.processInvocations * PRICES.lambdaRequest.usd,
      lambdaCompute:
        ((Math.max(0, c.pollMs - emptyPoll.ms) / 1000) * memoryGb.poll +
          (c.processMs / 1000) * memoryGb.process +
          COLD_SHARE * c.processInvocations * (INIT_MS / 1000) * memoryGb.process) *
        PRICES.lambdaGbSecondArm.usd,
      logs:
        ((Math.max(0, c.logBytes - emptyLogBytes) + c.processInvocations * PLATFORM_LOG_BYTES) / 1e9) *
        PRICES.logsIngestGb.usd,
      s3Puts: (requests.get('S3 PutObject') ?? 0) * PRICES.s3Put.usd,
      dynamo: dynamoCost(items),
    };
  };
  // cost(poll of a mailbox bringing k messages) ≈ overhead + k × each, from the bulk and the single cycle.
  const bulkCost = cycleCost(bulk);
  const singleCost = cycleCost(single);
  const each = Object.fromEntries(
    Object.entries(bulkCost).map(([k, v]) => [
      k,
      (v - singleCost[k as keyof typeof singleCost]) / (bulk.fetched - single.fetched),
    ]),
  ) as typeof bulkCost;
  const overhead = Object.fromEntries(
    Object.entries(singleCost).map(([k, v]) => [
      k,
      Math.max(0, (v - single.fetched * each[k as keyof typeof each]) / SAMPLE),
    ]),
  ) as typeof bulkCost;
  // Mail arrives at random: a poll finds some with probability 1 − e^(−λ), λ the messages expected per interval.
  const lambda = (PER_DAY * scheduleInterval(SCHEDULE).seconds) / 86_400;
  const pollsWithMailPerMessage = lambda > 0 ? (1 - Math.exp(-lambda)) / lambda : 0;
  const perMessage = Object.fromEntries(
    Object.entries(each)
      .filter(([k]) => k !== 's3Puts' && k !== 'dynamo')
      .map(([k, v]) => [k, v + overhead[k as keyof typeof overhead] * pollsWithMailPerMessage]),
  ) as Record<string, number>;
  const bulkPerMessageUsd =
    Object.entries(bulkCost)
      .filter(([k]) => k !== 's3Puts' && k !== 'dynamo')
      .reduce((sum, [, v]) => sum + v, 0) / bulk.fetched;
  const perMessageUsd = Object.values(perMessage).reduce((a, b) => a + b, 0);
  // Storage depends on how long raw mail is kept (aws.rawMailExpireDays): its own line.
  const storagePerMessageUsd =
    (bytes / SAMPLE_MESSAGES / 1e9) * RETENTION_MONTHS * PRICES.s3StorageGbMonth.usd;

  // Per mailbox and poll (idle): the empty cycle over the sample, groups sized as the construct sizes them.
  const fleetConfig = validateConfig({
    ...config,
    accounts: Array.from({ length: MAILBOXES }, (_, i) => ({ ...config.accounts[0]!, id: `m${i}` })),
    aws: {},
  });
  const groups = pollGroups(fleetConfig);
  const groupSize = MAILBOXES / groups.length;
  const interval = scheduleInterval(SCHEDULE).seconds;
  const pollsPerMonth = (30 * 86_400) / interval;
  const perPoll = {
    requests: requestCost(
      new Map([...emptyCounts].map(([k, n]) => [k, n / SAMPLE])),
      new Map([...dynamoOnly(emptyItems)].map(([k, n]) => [k, n / SAMPLE])),
    ),
    // A deployed account's password is a Secrets Manager secret, fetched again once the cache has expired.
    secrets: Math.min(1, interval / SECRET_CACHE_SECONDS) * PRICES.secretsApiCall.usd,
    lambdaRequests: PRICES.lambdaRequest.usd / groupSize,
    lambdaCompute:
      ((emptyPoll.ms / 1000 / SAMPLE) * memoryGb.poll +
        (COLD_SHARE * (INIT_MS / 1000) * memoryGb.poll) / groupSize) *
      PRICES.lambdaGbSecondArm.usd,
    logs: ((emptyLogBytes / SAMPLE + PLATFORM_LOG_BYTES / groupSize) / 1e9) * PRICES.logsIngestGb.usd,
  };
  const perPollUsd = Object.values(perPoll).reduce((a, b) => a + b, 0);
  // Metrics a group invocation publishes (counted from its EMF lines), alarms the construct makes per group.
  const metricsPerGroup = emptyMetrics.size;
  const monthly = {
    polling: perPollUsd * pollsPerMonth,
    metrics: (metricsPerGroup * PRICES.metricMonth.usd) / groupSize,
    alarms: (2 * PRICES.alarmMonth.usd) / groupSize,
    // Lambda's SQS pollers long-poll an idle queue (about 5 at a time, 20 s each); shared by the fleet.
    queueIdlePolling: ((5 * 30 * 86_400) / 20 / MAILBOXES) * PRICES.sqsRequest.usd,
  };
  const idleMonthUsd = Object.values(monthly).reduce((a, b) => a + b, 0);
  const mailboxMonthUsd = idleMonthUsd + PER_DAY * 30 * (perMessageUsd + storagePerMessageUsd);

  // ---- Report ----
  const usd = (n: number) => (n >= 0.01 ? `$${n.toFixed(4)}` : `$${n.toPrecision(3)}`);
  console.log(
    `\nMeasured: ${SAMPLE} mailboxes, ${fetched} messages (${(bytes / 1e6).toFixed(1)} MB), ` +
      `${processInvocations} process invocations; poll with mail ${polled.ms.toFixed(0)} ms, ` +
      `empty poll of the group ${emptyPoll.ms.toFixed(0)} ms; ${webhookCalls} webhook calls, ` +
      `${mailItems.get('PutEvents') ?? 0} events; then one message in each mailbox: ${single.fetched} messages, ` +
      `${single.processInvocations} process invocations.`,
  );
  console.log('\nAWS requests, mail cycle (poll + process) | empty cycle:');
  const keys = [...new Set([...mailCounts.keys(), ...emptyCounts.keys()])].sort();
  for (const key of keys) {
    console.log(
      `  ${key.padEnd(32)} ${String(mailCounts.get(key) ?? 0).padStart(7)} | ${emptyCounts.get(key) ?? 0}`,
    );
  }
  console.log(
    `  DynamoDB items written/read (mail cycle): ${JSON.stringify(Object.fromEntries(dynamoOnly(mailItems)))}`,
  );
  console.log(`  metrics one group invocation publishes: ${[...emptyMetrics].join(', ') || 'none'}`);
  console.log(`\nPer 1M messages (${WEBHOOK_SHARE * 100}% webhooks, ${EVENT_SHARE * 100}% events):`);
  for (const [name, value] of Object.entries(perMessage))
    console.log(`  ${name.padEnd(16)} ${usd(value * 1e6)}`);
  console.log(
    `  ${'total'.padEnd(16)} ${usd(perMessageUsd * 1e6)}  target ≤ $8: ${perMessageUsd * 1e6 <= 8 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `  plus S3 storage ${usd(storagePerMessageUsd * 1e6)} for ${RETENTION_MONTHS} month(s) kept ` +
      `(${(bytes / SAMPLE_MESSAGES / 1024).toFixed(0)} KB a message on average)`,
  );
  console.log(
    `  of the requests: S3 PUT ${usd(each.s3Puts * 1e6)}, DynamoDB ${usd((each.dynamo + overhead.dynamo * pollsWithMailPerMessage) * 1e6)}; ` +
      `${(1 / pollsWithMailPerMessage).toFixed(2)} messages per poll with mail at ${PER_DAY} a day ` +
      `(in bulk, many messages per poll: ${usd(bulkPerMessageUsd * 1e6)})`,
  );
  console.log(
    `\nPer idle mailbox-month at ${SCHEDULE} (${pollsPerMonth.toFixed(0)} polls; ${MAILBOXES} mailboxes in ` +
      `${groups.length} groups of ~${groupSize.toFixed(0)}, concurrency ${settings.poller.concurrency}):`,
  );
  for (const [name, value] of Object.entries(perPoll)) {
    console.log(`  ${`polls: ${name}`.padEnd(24)} ${usd(value * pollsPerMonth)}`);
  }
  for (const [name, value] of Object.entries(monthly))
    if (name !== 'polling') console.log(`  ${name.padEnd(24)} ${usd(value)}`);
  console.log(
    `  ${'total'.padEnd(24)} ${usd(idleMonthUsd)}  target ≤ $0.01: ${idleMonthUsd <= 0.01 ? 'met' : 'NOT met'}`,
  );
  const withoutSecretReads = idleMonthUsd - perPoll.secrets * pollsPerMonth;
  console.log(
    `  ${'without secret reads'.padEnd(24)} ${usd(withoutSecretReads)} (the poller reads each account's ` +
      `secret again once its ${SECRET_CACHE_SECONDS} s cache has expired: --secret-cache-seconds)`,
  );
  console.log(
    `\nPer mailbox-month with ${PER_DAY} messages a day (storage included): ${usd(mailboxMonthUsd)}; ` +
      `${MAILBOXES} mailboxes: ${usd(mailboxMonthUsd * MAILBOXES)} a month.`,
  );
  console.log(
    `Not in these figures: ${usd(PRICES.secretMonth.usd)} per Secrets Manager secret a month (one per account ` +
      'unless accounts share one), the CloudWatch dashboard, data transfer out (webhooks), DynamoDB/S3 ' +
      'storage of state. Prices: bench/prices.ts (us-east-1 list prices, Lambda on Arm).',
  );
} finally {
  webhooks.closeAllConnections();
  webhooks.close();
  await world.stop();
  await dovecot.stop();
}
process.exit(0);
