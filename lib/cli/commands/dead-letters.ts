import { type Command, InvalidArgumentError } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import {
  type DeadLetterView,
  dropDeadLetters,
  listDeadLetters,
  requireDeadLetters,
  retryDeadLetters,
  showDeadLetter,
} from '../../core/dead-letters.ts';
import type { DeadLetterMoves, DeadLetterStore } from '../../ports.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';
import { printable, sharedRedactor, type Terminal, table } from '../output.ts';

interface ListOptions extends GlobalOptions {
  limit: string;
}
interface RetryOptions extends GlobalOptions {
  all?: boolean;
}

const HELP = `
Locally the dead letters are a table in <store dir>/postroom.db; with
store: { kind: aws } they are the SQS dead-letter queue named by the main
queue's RedrivePolicy (ids are SQS message ids). SQS keeps no reason: see
the process function's log for it.

Examples:
  $ postroom dead-letters list --config postroom.yaml
  $ postroom dead-letters show 12 --config postroom.yaml
  $ postroom dead-letters retry 12 13 && postroom process     # after fixing the cause
  $ postroom dead-letters retry --all --json
  $ postroom dead-letters drop 14`;

export function registerDeadLetters(program: Command): void {
  const group = program
    .command('dead-letters')
    .summary('list, show, retry or drop the messages the queue gave up on')
    .description(
      'A message whose processing failed maxReceives times (aws.processor.maxReceives, 5 by default) ' +
        'leaves the queue for the dead letters. Fix the cause, then retry it (back onto the main ' +
        'queue with a fresh receive count; actions already done are not done again) or drop it.',
    )
    .addHelpText('after', HELP);

  addCommonOptions(
    group
      .command('list')
      .description('the dead letters, oldest first')
      .option('--limit <n>', 'at most this many', positiveInt, '100')
      .addHelpText(
        'after',
        `
Output with --json:
  { "deadLetters": [ { "id", "account", "mailbox", "uidValidity", "uid", "subject"?,
      "messageId"?, "receiveCount", "failedAt"?, "reason" } ] }

Examples:
  $ postroom dead-letters list
  $ postroom dead-letters list --json | jq -r '.deadLetters[].id'`,
      ),
  ).action(async (options: ListOptions) => {
    const { terminal, store } = await open(options);
    const views = await listDeadLetters(store, Number(options.limit));
    if (options.json) return terminal.json({ deadLetters: views });
    if (views.length === 0) return terminal.print('no dead letters');
    terminal.print(
      table(
        ['id', 'account/mailbox', 'uid', 'subject', 'receives', 'failed at', 'reason'],
        views.map((v) => [
          v.id,
          where(v),
          v.uid ?? '-',
          (v.subject ?? '').slice(0, 40),
          v.receiveCount,
          v.failedAt ?? '-',
          v.reason.slice(0, 80),
        ]),
      ),
    );
    terminal.print(`${views.length} dead letter${views.length === 1 ? '' : 's'}`);
  });

  addCommonOptions(
    group
      .command('show')
      .description('one dead letter: why it failed, how often it was tried, the queue message')
      .argument('<id>', 'its id, as `list` prints it')
      .addHelpText(
        'after',
        `
Output with --json: { "deadLetter": { ...as in list }, "message": { the queue message } }

Examples:
  $ postroom dead-letters show 12
  $ postroom dead-letters show 12 --json | jq .message.envelope`,
      ),
  ).action(async (id: string, options: GlobalOptions) => {
    const { terminal, store } = await open(options);
    const found = await showDeadLetter(store, id);
    if (!found) {
      process.exitCode = 1;
      if (options.json) return terminal.json({ error: `no dead letter ${id}` });
      return terminal.say(`${terminal.paint('red', 'error')}: no dead letter ${printable(id)}`);
    }
    if (options.json) return terminal.json({ deadLetter: found.view, message: found.body ?? null });
    const v = found.view;
    const lines: [string, string | number | undefined][] = [
      ['id', v.id],
      ['account', v.account],
      ['mailbox', v.mailbox],
      ['uid', v.uid === undefined ? undefined : `${v.uid} (UIDVALIDITY ${v.uidValidity})`],
      ['subject', v.subject],
      ['message-id', v.messageId],
      ['receives', v.receiveCount],
      ['failed at', v.failedAt],
      ['reason', v.reason],
      ['blob', found.body?.blob.key],
    ];
    for (const [label, value] of lines)
      if (value !== undefined) terminal.print(`${`${label}:`.padEnd(12)}${printable(String(value))}`);
  });

  addCommonOptions(
    group
      .command('retry')
      .description('move dead letters back to the main queue (SQS: redrive) with a fresh receive count')
      .argument('[ids...]', 'the ids to retry, as `list` prints them')
      .option('--all', 'every dead letter')
      .addHelpText(
        'after',
        `
Output with --json: { "retried": [ids], "missing": [ids not found] }
Exit status 1 when an id was not found. Locally, \`postroom process\` (or a
running \`postroom run\`) then takes them; in AWS the process function does.

Examples:
  $ postroom dead-letters retry 12 13
  $ postroom dead-letters retry --all`,
      ),
  ).action(async (ids: string[], options: RetryOptions, command: Command) => {
    if (Boolean(options.all) === ids.length > 0) {
      command.error('error: give the ids to retry, or --all (not both)', { exitCode: 2 });
    }
    const { terminal, store } = await open(options);
    const moves = await retryDeadLetters(store, options.all ? 'all' : ids);
    report(terminal, options, moves, 'retried', 'retried (back on the queue)');
  });

  addCommonOptions(
    group
      .command('drop')
      .description('delete dead letters for good (their raw mail stays in the blob store)')
      .argument('<ids...>', 'the ids to drop, as `list` prints them')
      .addHelpText(
        'after',
        `
Output with --json: { "dropped": [ids], "missing": [ids not found] }
Exit status 1 when an id was not found.

Examples:
  $ postroom dead-letters drop 14
  $ postroom dead-letters drop 14 15 --json`,
      ),
  ).action(async (ids: string[], options: GlobalOptions) => {
    const { terminal, store } = await open(options);
    const moves = await dropDeadLetters(store, ids);
    report(terminal, options, moves, 'dropped', 'dropped');
  });
}

async function open(options: GlobalOptions): Promise<{ terminal: Terminal; store: DeadLetterStore }> {
  const terminal = terminalFor(options);
  const config = await loadConfig(options.config);
  const runtime = await openRuntime(config, { logger: terminal, onSecret: (v) => sharedRedactor.add(v) });
  return { terminal, store: requireDeadLetters(runtime.stores.deadLetters) };
}

function report(
  terminal: Terminal,
  options: GlobalOptions,
  moves: DeadLetterMoves,
  key: 'retried' | 'dropped',
  verb: string,
): void {
  if (moves.missing.length > 0) process.exitCode = 1;
  if (options.json) {
    terminal.json({ [key]: moves.done, missing: moves.missing });
    return;
  }
  terminal.print(
    `${verb}: ${moves.done.length}${moves.done.length > 0 ? ` (${moves.done.join(', ')})` : ''}`,
  );
  if (moves.missing.length > 0)
    terminal.say(
      `${terminal.paint('red', 'error')}: no dead letter ${moves.missing.map((id) => printable(id)).join(', ')}`,
    );
}

function where(view: DeadLetterView): string {
  return view.account === undefined ? '-' : `${view.account}/${view.mailbox}`;
}

function positiveInt(value: string): string {
  if (!/^[1-9]\d{0,5}$/.test(value)) {
    throw new InvalidArgumentError('expected a whole number from 1 to 999999');
  }
  return value;
}
