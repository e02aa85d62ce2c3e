import { type Command, InvalidArgumentError } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { parseUidSet, type ReplayItem, replay, type UidSelector } from '../../core/replay.ts';
import { describeError } from '../../errors.ts';
import { chosenAccounts } from '../accounts.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';
import { sharedRedactor, table } from '../output.ts';

interface ReplayCommandOptions extends GlobalOptions {
  account: string;
  mailbox: string;
  since?: Date;
  uids?: UidSelector;
  apply?: boolean;
  trace?: boolean;
}

export function registerReplay(program: Command): void {
  addCommonOptions(
    program
      .command('replay')
      .summary('apply the current rules to mail already stored (dry run unless --apply)')
      .description(
        'Evaluates the current rules on the raw mail of one account and mailbox already in the blob ' +
          'store (nothing is fetched from the server) and prints what would be done, marking the ' +
          'actions already done. With --apply it does the actions not done before for each ' +
          '(message, rule, action), as `postroom process` would: a rule added today reaches last ' +
          "week's mail once, and a second --apply does nothing. The UIDs are those of the mailbox's " +
          "current UIDVALIDITY (the checkpoint's). The store has no server flags or internal date: " +
          'flag conditions see none, and the Date header stands in for the internal date.',
      )
      .requiredOption('-a, --account <id>', 'the account')
      .requiredOption('-m, --mailbox <name>', 'the mailbox (logical name, e.g. INBOX or Finance/Invoices)')
      .option('--since <date>', 'messages dated on or after this (ISO 8601 date or time)', date)
      .option('--uids <set>', 'these UIDs: 4, 1:20, 7,9:12,30:*', uidSet)
      .option('--apply', 'do the actions not done before (default: only print what would be done)')
      .option('--trace', 'print the IMAP dialog as C:/S: lines on stderr (credentials redacted)')
      .addHelpText(
        'after',
        `
Output with --json:
  { "applied": bool, "uidValidity": N, "messages": N, "todo": N, "alreadyDone": N, "failed": N,
    "items": [ { "account", "mailbox", "uid", "subject"?, "matched": [rules],
      "actions": [ { "rule", "kind", "detail"?, "status", "note"? } ], "status", "error"? } ] }
An action's status: "pending" (dry run: would be done), "already-done", or
what --apply did ("done", "gone", "failed", ...). "todo": actions done
(--apply) or that would be (dry run). Exit status 1 when a message failed.

Examples:
  $ postroom replay --account support --mailbox INBOX --since 2026-11-27
  $ postroom replay --account support --mailbox INBOX --since 2026-11-27 --apply
  $ postroom replay -a support -m Finance/Invoices --uids 120:180 --json`,
      ),
  ).action(async (options: ReplayCommandOptions, command: Command) => {
    if ((options.since === undefined) === (options.uids === undefined)) {
      command.error('error: choose the mail with --since DATE or --uids SET (one of them)', { exitCode: 2 });
    }
    const terminal = terminalFor(options);
    const config = await loadConfig(options.config);
    chosenAccounts(config, options.account, options.config);
    const runtime = await openRuntime(config, {
      logger: terminal,
      onSecret: (value) => sharedRedactor.add(value),
      ...(options.trace ? { trace: terminal } : {}),
    });
    const items: ReplayItem[] = [];
    try {
      const result = await replay(
        { ...runtime.processDependencies(), checkpoints: runtime.stores.checkpoints },
        {
          account: options.account,
          mailbox: options.mailbox,
          apply: options.apply === true,
          ...(options.since ? { since: options.since } : {}),
          ...(options.uids ? { uids: options.uids } : {}),
          onBatch: (batch) => items.push(...batch),
        },
      );
      if (result.failed > 0) process.exitCode = 1;
      if (options.json) return terminal.json({ ...result, items });
      if (items.length > 0)
        terminal.print(table(['uid', 'subject', 'rules', 'actions', 'reason'], items.map(row)));
      terminal.print(
        `${result.applied ? 'replayed' : 'dry run:'} ${result.messages} message${result.messages === 1 ? '' : 's'}` +
          (result.uidValidity !== undefined ? ` (UIDVALIDITY ${result.uidValidity})` : '') +
          `, ${result.todo} action${result.todo === 1 ? '' : 's'} ${result.applied ? 'done' : 'to do'}` +
          `, ${result.alreadyDone} already done${result.failed > 0 ? `, ${result.failed} failed` : ''}` +
          (!result.applied && result.todo > 0 ? ' (run again with --apply to do them)' : ''),
      );
    } finally {
      await runtime.close();
    }
  });
}

function row(item: ReplayItem): string[] {
  return [
    String(item.uid),
    (item.subject ?? '').slice(0, 50),
    item.matched.join(', ') || '-',
    item.actions
      .map((a) => {
        const status = a.status === 'pending' ? 'to do' : a.status === 'done' ? '' : a.status;
        return `${a.kind}${a.detail ? ` ${a.detail}` : ''}${status ? ` (${status})` : ''}`;
      })
      .join('; ') || '-',
    item.status === 'failed' ? (item.error?.message ?? 'failed') : '',
  ];
}

function date(value: string): Date {
  const parsed = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)
    ? new Date(value)
    : undefined;
  if (!parsed || Number.isNaN(parsed.getTime())) {
    throw new InvalidArgumentError('expected an ISO 8601 date, e.g. 2026-11-27 or 2026-11-27T08:00Z');
  }
  return parsed;
}

function uidSet(value: string): UidSelector {
  try {
    return parseUidSet(value);
  } catch (error) {
    throw new InvalidArgumentError(describeError(error).message.replace(/^--uids: /, ''));
  }
}
