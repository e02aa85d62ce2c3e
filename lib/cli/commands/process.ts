import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { type BatchItem, processBatch } from '../../core/process.ts';
import { ConfigError, isPostroomError } from '../../errors.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../main.ts';
import { sharedRedactor, table } from '../output.ts';

interface ProcessCommandOptions extends GlobalOptions {
  batchSize: string;
}

/** Long enough for a batch of IMAP actions and webhooks; a crashed run's messages reappear after it. */
const VISIBILITY_MS = 5 * 60_000;

export function registerProcess(program: Command): void {
  addCommonOptions(
    program
      .command('process')
      .summary('drain the local queue once: apply the rules to every queued message')
      .description(
        'Takes the queued pointers (from `postroom poll`), evaluates the rules, and acts: flags, ' +
          'copy, move and delete on the IMAP server (one command per mailbox, action and target), ' +
          'events to <store dir>/events.jsonl, webhooks, attachment exports. A message whose ' +
          'processing fails stays queued and is retried; after too many tries it is dead-lettered.',
      )
      .option('--batch-size <n>', 'messages per batch (one IMAP session per account per batch)', '50')
      .option('--trace', 'print the IMAP dialog as C:/S: lines on stderr (credentials redacted)')
      .addHelpText(
        'after',
        `
Output with --json:
  { "processed": N, "failed": N, "actions": { "move": N, "flag": N, ... } }

Examples:
  $ postroom poll --config postroom.yaml && postroom process --config postroom.yaml
  $ postroom process --config postroom.yaml --json`,
      ),
  ).action(async (options: ProcessCommandOptions) => {
    const terminal = terminalFor(options);
    const config = await loadConfig(options.config);
    if (config.store.kind !== 'local') {
      throw new ConfigError(
        'postroom process drains the local queue; in AWS the process Lambda consumes SQS',
        ['store.kind: expected local for `postroom process`'],
      );
    }
    const runtime = await openRuntime(config, {
      logger: terminal,
      onSecret: (value) => sharedRedactor.add(value),
      ...(options.trace ? { trace: terminal } : {}),
    });
    const summary = await drainLocalQueue(runtime, Number(options.batchSize) || 50);
    if (options.json) {
      terminal.json({ processed: summary.processed, failed: summary.failed, actions: summary.actions });
      return;
    }
    if (summary.rows.length > 0) terminal.print(table(['uid', 'subject', 'rules', 'actions'], summary.rows));
    const counts = Object.entries(summary.actions)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    terminal.print(`processed ${summary.processed}, failed ${summary.failed}${counts ? ` (${counts})` : ''}`);
    if (summary.failed > 0) process.exitCode = 1;
  });
}

export interface DrainSummary {
  processed: number;
  failed: number;
  actions: Record<string, number>;
  rows: string[][];
}

/** Receives, processes, acks or releases until the local queue has nothing visible. */
export async function drainLocalQueue(
  runtime: Awaited<ReturnType<typeof openRuntime>>,
  batchSize: number,
  onBatch?: (result: Awaited<ReturnType<typeof processBatch>>) => void,
  signal?: AbortSignal,
): Promise<DrainSummary> {
  const consumer = runtime.stores.consumer;
  if (!consumer) throw new ConfigError('no local queue to drain', ['store.kind: expected local']);
  const summary: DrainSummary = { processed: 0, failed: 0, actions: {}, rows: [] };
  // Failed messages are released only when the run ends: released at once, they
  // would be received again in this run, and every receive counts toward
  // maxReceives, so one real attempt could dead-letter them with a reason that
  // is not theirs. Meanwhile the visibility timeout keeps them hidden.
  const failed: { receipt: string; reason: string }[] = [];
  try {
    // Stops between batches when aborted: the batch in flight is finished and acked.
    while (!signal?.aborted) {
      const received = await consumer.receive(batchSize, VISIBILITY_MS);
      if (received.length === 0) break;
      const items: BatchItem[] = received.map((r) => ({
        id: r.receipt,
        message: r.body,
        receiveCount: r.receiveCount,
      }));
      const result = await processBatch(runtime.processDependencies(), items);
      for (const item of result.items) {
        if (item.status === 'done') await consumer.ack(item.id);
        else failed.push({ receipt: item.id, reason: item.error?.message ?? 'failed' });
        summary.rows.push([
          String(item.uid),
          (item.subject ?? '').slice(0, 50),
          item.matched.join(', ') || '-',
          item.actions
            .map(
              (a) =>
                `${a.kind}${a.detail ? ` ${a.detail}` : ''}${a.status === 'done' ? '' : ` (${a.status})`}`,
            )
            .join('; ') || '-',
        ]);
      }
      summary.processed += result.processed;
      summary.failed += result.failed;
      for (const [kind, n] of Object.entries(result.actions))
        summary.actions[kind] = (summary.actions[kind] ?? 0) + n;
      onBatch?.(result);
    }
  } finally {
    for (const { receipt, reason } of failed) {
      // A run longer than the visibility timeout lost the receipt: the message is visible again anyway.
      await consumer.release(receipt, reason).catch((error: unknown) => {
        if (!(isPostroomError(error) && error.code === 'QUEUE_RECEIPT_STALE')) throw error;
      });
    }
  }
  return summary;
}
