import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { type PollResult, pollAccount } from '../../core/poll.ts';
import { describeError } from '../../errors.ts';
import { addCommonOptions, type GlobalOptions, terminalFor, unknownAccount } from '../options.ts';
import { sharedRedactor, table } from '../output.ts';
import { firstPollNote } from '../poll-notes.ts';
import { ProgressLine } from '../progress.ts';

interface PollCommandOptions extends GlobalOptions {
  account?: string;
  mailbox?: string[];
}

export function registerPoll(program: Command): void {
  addCommonOptions(
    program
      .command('poll')
      .summary('fetch new mail once: store each message and queue a pointer to it')
      .description(
        'Opens one IMAP session per account, finds new mail by UID, stores each raw message ' +
          '(blob store), queues a pointer to it and moves the checkpoint, batch by batch. ' +
          'Uses the local stand-ins (a folder and SQLite under store.dir) unless the config ' +
          'says store: { kind: aws }. Reads with BODY.PEEK[]: never marks mail \\Seen.',
      )
      .option('-a, --account <id>', 'only this account')
      .option('-m, --mailbox <name...>', 'only these mailboxes (logical names, e.g. Finance/Invoices)')
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
    const total: PollResult = { fetched: 0, mailboxes: [] };
    const failures: string[] = [];
    try {
      for (const account of accounts) {
        try {
          const result = await pollAccount(runtime.pollDependencies(), {
            account,
            ingest: config.ingest,
            ...(options.mailbox ? { mailboxes: options.mailbox } : {}),
            onProgress: (p) => progress.update(`${p.account}/${p.mailbox}`, p.fetched, p.total),
          });
          progress.done();
          total.fetched += result.fetched;
          total.mailboxes.push(...result.mailboxes);
          for (const m of result.mailboxes) if (m.error) failures.push(m.error.message);
        } catch (error) {
          progress.done();
          // One account failing (auth, network, TLS) does not stop the others.
          failures.push(describeError(error).message);
          if (options.verbose && error instanceof Error && error.stack) terminal.say(error.stack);
        }
      }
    } finally {
      await runtime.close();
    }

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
