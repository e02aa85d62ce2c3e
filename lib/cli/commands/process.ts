import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { drainQueue } from '../../core/drain.ts';
import { type FailureReport, failureReports } from '../../core/process.ts';
import { ConfigError } from '../../errors.ts';
import { MESSAGE_TABLE_HEADERS, messageRows } from '../message-report.ts';
import { addCommonOptions, type GlobalOptions, positiveInteger, terminalFor } from '../options.ts';
import { sharedRedactor, table } from '../output.ts';

interface ProcessCommandOptions extends GlobalOptions {
  batchSize?: number;
}

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
      .option(
        '--batch-size <n>',
        'messages per batch (default: config process.batchMessages, 500)',
        positiveInteger,
      )
      .option('--trace', 'print the IMAP dialog as C:/S: lines on stderr (credentials redacted)')
      .addHelpText(
        'after',
        `
Output with --json:
  { "processed": N, "failed": N, "gone": N, "actions": { "move": N, "flag": N, ... },
    "failures": [{ "account", "mailbox", "uid", "rule"?, "action"?, "reason" }] }
"gone": messages no longer on the server (deleted, their mailbox gone, or not
found again after a UIDVALIDITY change): their server-side actions were not applied.
Exit status 1 when any message failed, with --json too.

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
    const rows: string[][] = [];
    const failures: FailureReport[] = [];
    const summary = await drainQueue(runtime.drainDependencies(), {
      batchSize: options.batchSize ?? config.process.batchMessages,
      onBatch: (result) => {
        failures.push(...failureReports(result.items));
        if (!options.json) rows.push(...messageRows(result.items, config.rules));
      },
    }).finally(() => runtime.close());
    if (summary.failed > 0) process.exitCode = 1;
    if (options.json) {
      terminal.json({
        processed: summary.processed,
        failed: summary.failed,
        gone: summary.gone,
        actions: summary.actions,
        failures,
      });
      return;
    }
    if (options.quiet) {
      // "Only errors": the failures are the errors.
      for (const f of failures)
        terminal.say(
          `${terminal.paint('red', 'error')}: ${f.account}/${f.mailbox} uid ${f.uid}` +
            `${f.rule ? ` rule ${f.rule}` : ''}${f.action ? ` ${f.action}` : ''}: ${f.reason}`,
        );
      return;
    }
    if (rows.length > 0) terminal.print(table(MESSAGE_TABLE_HEADERS, rows));
    const counts = Object.entries(summary.actions)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    terminal.print(
      `processed ${summary.processed}, failed ${summary.failed}` +
        `${summary.gone > 0 ? `, gone ${summary.gone}` : ''}${counts ? ` (${counts})` : ''}`,
    );
  });
}
