import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { drainQueue } from '../../core/drain.ts';
import { type FailureReport, failureReports } from '../../core/process.ts';
import { ConfigError } from '../../errors.ts';
import { deadLetterLines } from '../dead-letter-notice.ts';
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
    "failures": [{ "account", "mailbox", "uid", "rule"?, "action"?, "reason" }],
    "deadLettered": N, "deadLetters": [{ "account", "mailbox", "uid", "reason" }] }
"deadLettered": failed messages this run gave up on (tried maxReceives times):
they left the queue for the dead letters (see \`postroom dead-letters\`).
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
        deadLettered: summary.deadLettered,
        deadLetters: summary.deadLetters,
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
    for (const line of deadLetterLines(summary.deadLetters)) terminal.say(line);
    terminal.print(
      `processed ${summary.processed}, failed ${summary.failed}` +
        `${summary.deadLettered > 0 ? `, dead-lettered ${summary.deadLettered}` : ''}` +
        `${summary.gone > 0 ? `, gone ${summary.gone}` : ''}${counts ? ` (${counts})` : ''}`,
    );
  });
}
