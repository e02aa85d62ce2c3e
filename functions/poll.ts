/**
 * Poll Lambda: invoked on each account's schedule with `{ account, mailbox? }`.
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
import { ConfigError } from '#lib/errors.ts';

export interface PollEvent {
  account: string;
  mailbox?: string;
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

export const handler = middy(poll, { timeoutEarlyInMillis: 5_000 })
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
