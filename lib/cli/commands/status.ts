import { type Command, InvalidArgumentError } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { type MailboxStatus, NOT_ASKED, readStatus, type StatusReport } from '../../core/status.ts';
import { chosenAccounts } from '../accounts.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';
import { printable, sharedRedactor, type Terminal, table } from '../output.ts';

interface StatusCommandOptions extends GlobalOptions {
  account?: string;
  server: boolean;
  timeout: string;
}

export function registerStatus(program: Command): void {
  addCommonOptions(
    program
      .command('status')
      .summary('per mailbox: last poll, lag, checkpoint, lease, queue depth, dead letters, last error')
      .description(
        'Reads the state store (locally <store dir>/postroom.db; with store: { kind: aws } DynamoDB ' +
          'and SQS) and asks each server, over one read-only session per account, how many messages ' +
          'are newer than the checkpoint (EXAMINE, and UID SEARCH when UIDNEXT moved). A server that ' +
          'does not answer within --timeout is reported as "server not reached: <reason>"; the rest ' +
          'of the report stands.',
      )
      .option('-a, --account <id>', 'only this account')
      .option('--no-server', 'do not connect to the servers (no server lag)')
      .option('--timeout <seconds>', 'how long each server may take, connecting included', seconds, '10')
      .addHelpText(
        'after',
        `
Output with --json:
  { "generatedAt": ISO,
    "queue": { "queued": N, "inFlight": N, "deadLetters": N, "note"? } | { "error" },
    "accounts": [ { "id", "mailboxes": [ {
      "account", "mailbox",
      "lastPoll": { "at": ISO, "ageSeconds": N } | null,
      "lastError": { "at": ISO, "message" } | null,
      "checkpoint": { "uidValidity", "lastUid", "uidNext" } | null,
      "lease": { "owner", "until": ISO } | null,
      "lag": { "server": N | null, "serverError"?, "serverNote"?, "queued": N | null },
      "deadLetters": N | null } ] } ] }
"lag.server": messages on the server newer than the checkpoint; "lag.queued":
queued (or being processed) and not processed yet. With store: { kind: aws }
the SQS figures are approximate and not per mailbox ("queued" and
"deadLetters" per mailbox are null). Exit status 1 when a server was not
reached or a mailbox's last poll failed after its last success.

Examples:
  $ postroom status --config postroom.yaml
  $ postroom status --account support --json | jq '.accounts[0].mailboxes[] | {mailbox, lag}'
  $ postroom status --no-server          # only what the state store knows`,
      ),
  ).action(async (options: StatusCommandOptions) => {
    const terminal = terminalFor(options);
    const config = await loadConfig(options.config);
    const accounts = chosenAccounts(config, options.account, options.config);
    const runtime = await openRuntime(config, {
      logger: terminal,
      onSecret: (value) => sharedRedactor.add(value),
    });
    const { stores } = runtime;
    const report = await readStatus(
      {
        accounts,
        checkpoints: stores.checkpoints,
        leases: stores.leases,
        ...(stores.queueInspector ? { queueInspector: stores.queueInspector } : {}),
        ...(options.server ? { openSession: runtime.openSession } : {}),
      },
      { serverTimeoutMs: Number(options.timeout) * 1000 },
    );
    await runtime.close();
    if (unhealthy(report, options.server)) process.exitCode = 1;
    if (options.json) return terminal.json(report);
    printReport(terminal, report);
  });
}

function printReport(terminal: Terminal, report: StatusReport): void {
  const rows = report.accounts.flatMap((a) => a.mailboxes);
  if (rows.length === 0) {
    terminal.print('no mailboxes configured');
  } else {
    terminal.print(
      table(
        ['account', 'mailbox', 'last poll', 'lag', 'uidValidity/lastUid', 'lease', 'dead', 'last error'],
        rows.map((m) => [
          m.account,
          m.mailbox,
          m.lastPoll ? `${m.lastPoll.at} (${age(m.lastPoll.ageSeconds)} ago)` : 'never',
          lagCell(m),
          m.checkpoint ? `${m.checkpoint.uidValidity}/${m.checkpoint.lastUid}` : '-',
          m.lease ? `${m.lease.owner} until ${m.lease.until}` : '-',
          m.deadLetters ?? '-',
          m.lastError ? `${m.lastError.at}: ${m.lastError.message.slice(0, 60)}` : '-',
        ]),
      ),
    );
  }
  const { queue } = report;
  terminal.print(
    'error' in queue
      ? `queue: not read: ${printable(queue.error)}`
      : `queue: ${queue.queued} waiting, ${queue.inFlight} in flight, ${queue.deadLetters} dead letter${queue.deadLetters === 1 ? '' : 's'}` +
          (queue.note ? ` (${queue.note})` : ''),
  );
  // The long explanations under the table, one line each, so the table stays narrow.
  for (const m of rows) {
    if (m.lag.serverError) terminal.print(`${m.account}/${m.mailbox}: ${printable(m.lag.serverError)}`);
    if (m.lag.serverNote && m.lag.serverNote !== NOT_ASKED)
      terminal.print(`${m.account}/${m.mailbox}: ${printable(m.lag.serverNote)}`);
  }
  if (rows.some((m) => m.lag.serverNote === NOT_ASKED)) terminal.print(NOT_ASKED);
}

function lagCell(m: MailboxStatus): string {
  const server = m.lag.server === null ? '?' : `${m.lag.server} on server`;
  return m.lag.queued === null ? server : `${server}, ${m.lag.queued} queued`;
}

/** `42s`, `5m`, `3h`, `2d`: the age of the last poll at a glance. */
function age(totalSeconds: number): string {
  if (totalSeconds < 120) return `${totalSeconds}s`;
  if (totalSeconds < 7200) return `${Math.round(totalSeconds / 60)}m`;
  if (totalSeconds < 172_800) return `${Math.round(totalSeconds / 3600)}h`;
  return `${Math.round(totalSeconds / 86_400)}d`;
}

function unhealthy(report: StatusReport, askedServer: boolean): boolean {
  return report.accounts.some((a) =>
    a.mailboxes.some(
      (m) =>
        (askedServer && m.lag.serverError !== undefined) ||
        (m.lastError !== null && (m.lastPoll === null || m.lastError.at > m.lastPoll.at)),
    ),
  );
}

function seconds(value: string): string {
  if (!/^\d{1,4}(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new InvalidArgumentError('expected seconds, e.g. 10 or 2.5');
  }
  return value;
}
