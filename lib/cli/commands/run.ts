import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { mailboxSettings } from '../../config/mailbox-settings.ts';
import { drainQueue } from '../../core/drain.ts';
import { pollAccount } from '../../core/poll.ts';
import { DEFAULT_POLL_CONCURRENCY } from '../../core/poll-fleet.ts';
import { Runner } from '../../core/runner.ts';
import { msUntilNext } from '../../core/schedule.ts';
import { ConfigError } from '../../errors.ts';
import { deadLetterLine } from '../dead-letter-notice.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';
import { sharedRedactor } from '../output.ts';
import { ProgressLine } from '../progress.ts';
import { RunReport } from '../run-report.ts';
import { onStopSignals } from '../stop-signals.ts';
import { concurrencyOption } from './poll.ts';

/** SIGTERM must end the process within 10 s (service managers kill it after that); leave a margin for LOGOUT. */
const STOP_DEADLINE_MS = 9_000;
/** After a clean stop, how long a leftover connection attempt may keep the process alive. */
const STOP_GRACE_MS = 1_000;

export function registerRun(program: Command): void {
  addCommonOptions(
    program
      .command('run')
      .summary('poll every account on its schedule and process continuously (one machine)')
      .description(
        'Runs the whole pipeline in one process with the local stand-ins: each account is polled on ' +
          'its `schedule` (rate(5 minutes) by default; locally also e.g. rate(10 seconds)), mailboxes ' +
          'with `idle: true` are watched with IMAP IDLE so new mail is handled within seconds, and the ' +
          'queue is processed after every poll that brought mail. ' +
          'Ctrl-C / SIGTERM: the batch in flight is finished and checkpointed, sessions log out, exit 0.',
      )
      .option(
        '--concurrency <n>',
        'accounts polled at once when their polls are due together',
        concurrencyOption,
        DEFAULT_POLL_CONCURRENCY,
      )
      .option('--trace', 'print the IMAP dialog as C:/S: lines on stderr (credentials redacted)')
      .addHelpText(
        'after',
        `
Output: a table of the messages of each processed batch (uid, subject, rules,
actions, reason), as mail arrives. With --json: one JSON object per line and
per processed message:
  { "account", "mailbox", "uid", "subject", "status": "done|failed|gone",
    "rules": [names], "actions": [ { "rule", "kind", "detail", "status", "note" } ],
    "reason"? }

Examples:
  $ SUPPORT_IMAP_PASSWORD=... postroom run --config postroom.yaml
  $ postroom run --config postroom.yaml --json | jq -c 'select(.status == "failed")'
  $ postroom run --config postroom.yaml --verbose     # log every poll and batch`,
      ),
  ).action(async (options: GlobalOptions & { concurrency: number }) => {
    const terminal = terminalFor(options);
    const config = await loadConfig(options.config);
    if (config.store.kind !== 'local') {
      throw new ConfigError('postroom run uses the local stand-ins; in AWS the Lambdas do this work', [
        'store.kind: expected local for `postroom run`',
      ]);
    }
    if (config.accounts.length === 0) {
      throw new ConfigError('nothing to run: no accounts', ['accounts: expected at least one account']);
    }
    const runtime = await openRuntime(config, {
      logger: terminal,
      onSecret: (value) => sharedRedactor.add(value),
      ...(options.trace ? { trace: terminal } : {}),
    });
    const quiet = options.json || options.quiet;
    const report = new RunReport(terminal, config.rules, {
      json: options.json === true,
      quiet: quiet === true,
    });
    const runner = new Runner(
      {
        accounts: config.accounts,
        logger: terminal,
        pollConcurrency: options.concurrency,
        poll: async (account, mailboxes, signal) => {
          const progress = new ProgressLine({ stream: process.stderr, enabled: !quiet });
          try {
            const result = await pollAccount(runtime.pollDependencies(), {
              account,
              ingest: config.ingest,
              signal,
              ...(mailboxes ? { mailboxes } : {}),
              onProgress: (p) => progress.update(`${p.account}/${p.mailbox}`, p.fetched, p.total),
            });
            progress.done();
            report.polled(account.id, result);
            return result;
          } finally {
            progress.done();
          }
        },
        processQueue: (signal) =>
          drainQueue(runtime.drainDependencies(), {
            signal,
            batchSize: config.process.batchMessages,
            onBatch: (result) => report.processed(result),
            // Said even with --json (on stderr): the message has left the queue for good.
            onDeadLetter: (notice) => {
              if (!options.quiet) terminal.say(deadLetterLine(notice));
            },
          }),
        watch: (account, mailbox, handlers) => report.watch(account, mailbox, handlers, runtime.watchMailbox),
        onJobDone: (job, outcome) => {
          if (job.kind === 'poll') report.pollOutcome(job.account, outcome);
        },
      },
      msUntilNext,
    );

    let stopping: Promise<void> | undefined;
    const stop = (signalName: string) => {
      if (stopping) {
        terminal.say(`${signalName} again: exiting now`);
        process.exit(1);
      }
      terminal.say(`${signalName}: finishing the batch in flight, then logging out…`);
      const timer = setTimeout(() => {
        terminal.say('could not stop cleanly in time; exiting (the checkpoint only covers finished batches)');
        process.exit(1);
      }, STOP_DEADLINE_MS);
      timer.unref();
      stopping = runner.stop().then(() => clearTimeout(timer));
    };
    onStopSignals(stop);

    await runner.start();
    // A signal during start (the IDLE watches log in first) has already stopped the runner.
    if (!quiet && !runner.signal.aborted) {
      const watched = config.accounts.flatMap((a) =>
        mailboxSettings(a)
          .filter((m) => m.idle)
          .map((m) => `${a.id}/${m.name}`),
      );
      terminal.say(
        `postroom is running: ${config.accounts.map((a) => `${a.id} (${a.schedule})`).join(', ')}` +
          (watched.length > 0 ? `; IDLE on ${watched.join(', ')}` : '') +
          '. Ctrl-C to stop.',
      );
    }
    // An 'abort' listener added after the abort would never fire, and with nothing
    // else pending Node would end the process with exit code 13 (unsettled top-level await).
    if (!runner.signal.aborted) {
      await new Promise<void>((resolve) =>
        runner.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    await stopping;
    await runtime.close();
    if (!quiet) terminal.say('stopped cleanly');
    // Everything is checkpointed and logged out. A watch reconnecting at the moment of
    // the signal may still be waiting for a server that does not answer (connection
    // timeout 30 s); it must not hold the process past the 10 s promised.
    setTimeout(() => process.exit(), STOP_GRACE_MS).unref();
  });
}
