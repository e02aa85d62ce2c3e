/**
 * Poll Lambda: invoked on each account's schedule with `{ account, mailbox? }`,
 * or on a group's schedule with `{ group, accounts }` (many accounts at once,
 * `aws.poller.concurrency` at a time, see `pollAccounts`).
 * Wiring only: config and adapters are built once per container; the work is
 * `pollAccount` in lib/core. It stops starting batches well before the
 * Lambda's timeout, so the checkpoint is saved and the next run resumes. A warm
 * container reuses the account's IMAP session (the runtime's session pool).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { deadlineBefore } from '#lib/adapters/aws/lambda-deadline.ts';
import { installLazySourceMaps } from '#lib/adapters/aws/lazy-source-maps.ts';
import { fromPowertools } from '#lib/adapters/aws/powertools-logger.ts';
import { openAwsPollRuntime } from '#lib/composition/aws.ts';
import { awsStoreFromEnvironment, loadConfigWithoutRulesFromEnvironment } from '#lib/config/environment.ts';
import { type PollResult, pollAccount } from '#lib/core/poll.ts';
import { DEFAULT_POLL_CONCURRENCY, type FleetPollResult, pollAccounts } from '#lib/core/poll-fleet.ts';
import { ConfigError } from '#lib/errors.ts';

export type PollEvent = { account: string; mailbox?: string } | GroupPollEvent;

export interface GroupPollEvent {
  /** The group's name in metrics (`poll-group-<n>`). */
  group: string;
  accounts: string[];
}

/** Stop starting new batches this long before the timeout (one batch must still fit). */
const SAFETY_MARGIN_MS = 30_000;
/** The IMAP session is closed, mid-command if need be, this long before the timeout. */
const SESSION_MARGIN_MS = 8_000;

// First, so that anything thrown while loading the config is mapped too.
installLazySourceMaps(import.meta.url);

const logger = new Logger({ serviceName: 'postroom' });
const metrics = new Metrics({ namespace: 'Postroom', serviceName: 'postroom' });
// Polling never evaluates rules: they are left unread, which keeps the rule language
// and its regex engine out of this bundle. `cdk synth` validated them; the process
// function reads them.
const config = await loadConfigWithoutRulesFromEnvironment();
const runtime = openAwsPollRuntime(config, {
  logger: fromPowertools(logger),
  store: awsStoreFromEnvironment(),
});

async function poll(
  event: PollEvent,
  context: Context,
  { signal }: { signal: AbortSignal },
): Promise<PollResult> {
  if (event && 'accounts' in event) return pollGroup(event, context, signal);
  const account = config.accounts.find((a) => a.id === event?.account);
  if (!account) {
    throw new ConfigError(`no account "${String(event?.account)}" in the bundled config`, [
      `event.account: expected one of ${config.accounts.map((a) => a.id).join(', ')}`,
    ]);
  }
  logger.appendKeys({ account: account.id });
  const deadline = deadlineBefore(context, SAFETY_MARGIN_MS);
  try {
    const result = await pollAccount(runtime.pollDependencies(context.awsRequestId), {
      account,
      ingest: config.ingest,
      ...(event.mailbox ? { mailboxes: [event.mailbox] } : {}),
      deadline,
      // Whatever the server does, the IMAP session ends before middy's early timeout.
      sessionDeadline: deadlineBefore(context, SESSION_MARGIN_MS),
      signal,
    });
    for (const mailbox of result.mailboxes) {
      const single = metrics.singleMetric();
      single.addDimensions({ account: mailbox.account, mailbox: mailbox.mailbox });
      single.addMetric('MessagesIngested', MetricUnit.Count, mailbox.fetched);
      if (mailbox.lag !== undefined) single.addMetric('MailboxLag', MetricUnit.Count, mailbox.lag);
    }
    const errors = result.mailboxes.filter((m) => m.outcome === 'failed');
    metrics.addDimensions({ account: account.id });
    metrics.addMetric(errors.length === 0 ? 'PollSucceeded' : 'PollErrors', MetricUnit.Count, 1);
    logger.info('poll finished', { fetched: result.fetched, mailboxes: result.mailboxes });
    return result;
  } catch (error) {
    metrics.addDimensions({ account: account.id });
    metrics.addMetric('PollErrors', MetricUnit.Count, 1);
    throw error;
  }
}

/**
 * A group: every account on its own session, `aws.poller.concurrency` at once,
 * none started past the deadline. One account failing is one log line, not the
 * invocation's failure; metrics are per group (per-account series would cost
 * more than the polls), lag and ingest counts per mailbox only when not zero.
 */
async function pollGroup(
  event: GroupPollEvent,
  context: Context,
  signal: AbortSignal,
): Promise<FleetPollResult> {
  const accounts = event.accounts.map((id) => config.accounts.find((a) => a.id === id));
  const unknown = event.accounts.filter((_, i) => !accounts[i]);
  if (unknown.length > 0) {
    throw new ConfigError(`no account "${unknown.join('", "')}" in the bundled config`, [
      `event.accounts: expected ids from ${config.accounts.map((a) => a.id).join(', ')}`,
    ]);
  }
  logger.appendKeys({ group: event.group });
  const result = await pollAccounts(runtime.pollDependencies(context.awsRequestId), {
    accounts: accounts.filter((a) => a !== undefined),
    concurrency: config.aws?.poller.concurrency ?? DEFAULT_POLL_CONCURRENCY,
    ingest: config.ingest,
    deadline: deadlineBefore(context, SAFETY_MARGIN_MS),
    sessionDeadline: deadlineBefore(context, SESSION_MARGIN_MS),
    signal,
  });
  for (const mailbox of result.mailboxes) {
    if (mailbox.fetched === 0 && !mailbox.lag) continue;
    const single = metrics.singleMetric();
    single.addDimensions({ account: mailbox.account, mailbox: mailbox.mailbox });
    single.addMetric('MessagesIngested', MetricUnit.Count, mailbox.fetched);
    if (mailbox.lag !== undefined) single.addMetric('MailboxLag', MetricUnit.Count, mailbox.lag);
  }
  for (const failure of result.failures) logger.error('account poll failed', failure);
  for (const mailbox of result.mailboxes.filter((m) => m.outcome === 'failed')) {
    logger.error('mailbox poll failed', {
      account: mailbox.account,
      mailbox: mailbox.mailbox,
      ...mailbox.error,
    });
  }
  const failed = new Set([
    ...result.failures.map((f) => f.account),
    ...result.mailboxes.filter((m) => m.outcome === 'failed').map((m) => m.account),
  ]);
  const polled = event.accounts.length - result.notStarted.length;
  metrics.addDimensions({ group: event.group });
  metrics.addMetric('PollSucceeded', MetricUnit.Count, polled - failed.size);
  if (failed.size > 0) metrics.addMetric('PollErrors', MetricUnit.Count, failed.size);
  if (result.notStarted.length > 0) {
    logger.warn('time budget spent; accounts left for the next run', { notStarted: result.notStarted });
  }
  // Counts only: each mailbox that brought mail has logged its own line, each failure too.
  logger.info('poll finished', { fetched: result.fetched, accounts: polled, failed: failed.size });
  return result;
}

export const handler = middy(poll, { timeoutEarlyInMillis: 5_000 })
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
