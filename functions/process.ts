/**
 * Process Lambda: the SQS event source hands it a batch of queue messages.
 * Wiring only: the work is `processBatch` in lib/core, which groups IMAP
 * actions across the whole batch (one session per account, one command per
 * mailbox/action/target) — so the batch is processed as a whole rather than
 * record by record, and the partial batch response is built from its
 * per-message results: a failed message stays on the queue (and reaches the
 * dead-letter queue after the redrive policy's receive count) without
 * replaying the rest. Effects are recorded per (message, rule, action) in
 * DynamoDB, which is what makes redelivery harmless.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { fromPowertools } from '#lib/adapters/aws/powertools-logger.ts';
import { awsStoreFromEnvironment, loadConfigFromEnvironment } from '#lib/config/load.ts';
import { type BatchItem, processBatch } from '#lib/core/process.ts';
import { parseQueueMessage } from '#lib/core/queue-message.ts';
import { openRuntime } from '#lib/runtime.ts';

const logger = new Logger({ serviceName: 'postroom' });
const metrics = new Metrics({ namespace: 'Postroom', serviceName: 'postroom' });
const config = await loadConfigFromEnvironment();
const runtime = await openRuntime(config, {
  logger: fromPowertools(logger),
  store: awsStoreFromEnvironment(),
});

async function processRecords(event: SQSEvent): Promise<SQSBatchResponse> {
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
  const result = await processBatch(runtime.processDependencies(), items);
  for (const item of result.items) {
    if (item.status === 'failed') {
      logger.warn('message failed; left on the queue', {
        uid: item.uid,
        account: item.account,
        error: item.error,
      });
      failures.push({ itemIdentifier: item.id });
    }
    if (item.matched.length > 0) metrics.addMetric('RuleMatches', MetricUnit.Count, item.matched.length);
  }
  for (const [kind, count] of Object.entries(result.actions)) {
    const single = metrics.singleMetric();
    single.addDimension('action', kind);
    single.addMetric('ActionsApplied', MetricUnit.Count, count);
  }
  metrics.addMetric('MessagesProcessed', MetricUnit.Count, result.processed);
  if (failures.length > 0) metrics.addMetric('ProcessErrors', MetricUnit.Count, failures.length);
  return { batchItemFailures: failures };
}

export const handler = middy(processRecords)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
