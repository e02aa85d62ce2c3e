import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { DEFAULT_POLL_CONCURRENCY, pollAccounts } from '../../core/poll-fleet.ts';
import { ConfigError } from '../../errors.ts';
import { addCommonOptions, type GlobalOptions, terminalFor, unknownAccount } from '../options.ts';
import { sharedRedactor, table } from '../output.ts';
import { firstPollNote } from '../poll-notes.ts';
import { ProgressLine } from '../progress.ts';

interface PollCommandOptions extends GlobalOptions {
  account?: string;
  mailbox?: string[];
  concurrency: number;
}

export function registerPoll(program: Command): void {
  addCommonOptions(
    program
      .command('poll')
      .summary('fetch new mail once: store each message and queue a pointer to it')
      .description(
        'Opens one IMAP session per account (several accounts at once, see --concurrency), finds new mail by UID, stores each raw message ' +
          '(blob store), queues a pointer to it and moves the checkpoint, batch by batch. ' +
          'Uses the local stand-ins (a folder and SQLite under store.dir) unless the config ' +
          'says store: { kind: aws }. Reads with BODY.PEEK[]: never marks mail \\Seen.',
      )
      .option('-a, --account <id>', 'only this account')
      .option('-m, --mailbox <name...>', 'only these mailboxes (logical names, e.g. Finance/Invoices)')
      .option(
        '--concurrency <n>',
        'accounts polled at once, each on its own IMAP session',
        concurrencyOption,
        DEFAULT_POLL_CONCURRENCY,
      )
      .option('--trace', 'print the IMAP dialog as C:/S: lines on stderr (credentials redacted)')
      .addHelpText(
        'after',
        `
Output with --json:
  { "fetched": N, "mailboxes": [ { "account", "mailbox", "uidValidity", "fetched", "lastUid", ... } ] }
  A mailbox skipped because another poller holds it has "outcome": "locked" and
  "heldBy": { "owner", "until" } (the lease's holder and its expiry, ISO 8601).
  A mailbox's first poll with start: new has "firstPoll": { "start": "new",
  "afterUid", "existing" }: it starts after that UID; the existing mail is not processed.

Examples:
  $ SUPPORT_IMAP_PASSWORD=... postroom poll --config postroom.yaml
  $ postroom poll --config postroom.yaml --account support --mailbox INBOX --json`,
      ),
  ).action(async (options: PollCommandOptions) => {
    const terminal = terminalFor(options);
    const config = await loadConfig(options.config);
    const accounts = options.account
      ? config.accounts.filter((a) => a.id === options.account)
      : config.accounts;
    if (options.account && accounts.length === 0)
      throw unknownAccount(options.account, options.config, config.accounts);
    const runtime = await openRuntime(config, {
      logger: terminal,
      onSecret: (value) => sharedRedactor.add(value),
      ...(options.trace ? { trace: terminal } : {}),
    });
    const progress = new ProgressLine({ stream: process.stderr, enabled: !options.json && !options.quiet });
    let total: Awaited<ReturnType<typeof pollAccounts>>;
    const failures: string[] = [];
    try {
      // One account failing (auth, network, TLS) does not stop the others: it is one line below.
      total = await pollAccounts(runtime.pollDependencies(), {
        accounts,
        concurrency: options.concurrency,
        ingest: config.ingest,
        ...(options.mailbox ? { mailboxes: options.mailbox } : {}),
        onProgress: (p) => progress.update(`${p.account}/${p.mailbox}`, p.fetched, p.total),
      });
      progress.done();
    } finally {
      await runtime.close();
    }
    for (const m of total.mailboxes) if (m.error) failures.push(m.error.message);
    for (const f of total.failures) failures.push(f.message);
    if (options.json) {
      terminal.json({
        fetched: total.fetched,
        mailboxes: total.mailboxes,
        ...(failures.length > 0 ? { errors: failures } : {}),
      });
    } else if (total.mailboxes.length > 0 && !options.quiet) {
      terminal.print(
        table(
          ['account', 'mailbox', 'uidValidity', 'fetched', 'lastUid', 'outcome'],
          total.mailboxes.map((m) => [
            m.account,
            m.mailbox,
            m.uidValidity ?? '-',
            m.fetched,
            m.lastUid ?? '-',
            m.heldBy ? `locked by ${m.heldBy.owner} until ${m.heldBy.until}` : m.outcome,
          ]),
        ),
      );
      terminal.print(`fetched ${total.fetched} message${total.fetched === 1 ? '' : 's'}`);
      for (const m of total.mailboxes) {
        const note = firstPollNote(m);
        if (note) terminal.say(note);
      }
    }
    for (const failure of failures) terminal.say(`${terminal.paint('red', 'error')}: ${failure}`);
    if (failures.length > 0) process.exitCode = 1;
  });
}

/** Parses `--concurrency` (shared with `postroom run`). */
export function concurrencyOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(`--concurrency: expected a whole number of at least 1, got ${value}`, [
      '--concurrency: expected a positive integer',
    ]);
  }
  return n;
}
