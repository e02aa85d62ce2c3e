/**
 * Process Lambda: the SQS event source hands it a batch of queue messages.
 * Wiring only: the work is `processBatch` in lib/core, which groups IMAP
 * actions across the whole batch (one session per account, one command per
 * mailbox/action/target) — so the batch is processed as a whole rather than
 * record by record, and the partial batch response is built from its
 * per-message results: a failed message stays on the queue (and reaches the
 * dead-letter queue after the redrive policy's receive count) without
 * replaying the rest. Effects are recorded per (message, rule, action) in
 * DynamoDB, which is what makes redelivery harmless. Like the poll function,
 * it stops starting work well before the Lambda's timeout: what it did not
 * reach is reported failed and comes back. The runtime lives at module scope,
 * so a warm container reuses its IMAP session per account across invocations
 * (within the account's connection budget; see lib/imap/session-pool.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { deadlineBefore } from '#lib/adapters/aws/lambda-deadline.ts';
import { installLazySourceMaps } from '#lib/adapters/aws/lazy-source-maps.ts';
import { fromPowertools } from '#lib/adapters/aws/powertools-logger.ts';
import { openAwsRuntime } from '#lib/composition/aws.ts';
import { awsStoreFromEnvironment, loadConfigFromEnvironment } from '#lib/config/environment.ts';
import { type BatchItem, processBatch } from '#lib/core/process.ts';
import { parseQueueMessage } from '#lib/core/queue-message.ts';

/**
 * Stop starting new work this long before the timeout: the IMAP session in
 * flight is closed by then (it gets the same deadline) and the results must
 * still be reported, or the whole batch would be delivered again.
 */
const SAFETY_MARGIN_MS = 10_000;

// First, so that anything thrown while loading the config is mapped too.
installLazySourceMaps(import.meta.url);

const logger = new Logger({ serviceName: 'postroom' });
const metrics = new Metrics({ namespace: 'Postroom', serviceName: 'postroom' });
const config = await loadConfigFromEnvironment();
const runtime = openAwsRuntime(config, { logger: fromPowertools(logger), store: awsStoreFromEnvironment() });

async function processRecords(
  event: SQSEvent,
  context: Context,
  { signal }: { signal: AbortSignal },
): Promise<SQSBatchResponse> {
  const deadline = deadlineBefore(context, SAFETY_MARGIN_MS);
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  const items: BatchItem[] = [];
  for (const record of event.Records) {
    const parsed = parseQueueMessage(record.body);
    if (!parsed.ok) {
      // A body that is not a queue message will never become one: let redrive dead-letter it.
      logger.error('not a Postroom queue message', {
        messageId: record.messageId,
        problems: parsed.problems,
      });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    items.push({
      id: record.messageId,
      message: parsed.message,
      receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
    });
  }
  // Messages not reached before the deadline fail (retryable) and so stay queued.
  const result = await processBatch(runtime.processDependencies(), items, { deadline, signal });
  // Per account, as the alarms and the dashboard read them (infra/metrics.ts).
  const perAccount = new Map<string, { matches: number; actions: number; errors: number }>();
  const tally = (account: string) => {
    const entry = perAccount.get(account) ?? { matches: 0, actions: 0, errors: 0 };
    perAccount.set(account, entry);
    return entry;
  };
  for (const item of result.items) {
    const entry = tally(item.account);
    entry.matches += item.matched.length;
    entry.actions += item.actions.filter((a) => a.status === 'done' || a.status === 'left-deleted').length;
    if (item.status === 'failed') {
      entry.errors += 1;
      logger.warn('message failed; left on the queue', {
        uid: item.uid,
        account: item.account,
        error: item.error,
      });
      failures.push({ itemIdentifier: item.id });
    }
  }
  for (const [account, entry] of perAccount) {
    const single = metrics.singleMetric();
    single.addDimension('account', account);
    single.addMetric('RuleMatches', MetricUnit.Count, entry.matches);
    single.addMetric('ActionsApplied', MetricUnit.Count, entry.actions);
    single.addMetric('ProcessErrors', MetricUnit.Count, entry.errors);
  }
  logger.info('batch processed', {
    processed: result.processed,
    failed: result.failed,
    gone: result.gone,
    actions: result.actions,
  });
  return { batchItemFailures: failures };
}

export const handler = middy(processRecords, { timeoutEarlyInMillis: 5_000 })
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
