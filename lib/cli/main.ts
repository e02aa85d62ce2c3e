/**
 * The `postroom` command. Each subcommand is a driver of one use case in
 * `lib/core/`; this file only wires options, output and exit codes.
 *
 * Exit codes: 0 success, 1 the work failed (server refused, a mailbox failed),
 * 2 bad usage or an invalid config.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, describeError } from '../errors.ts';
import { registerDeadLetters } from './commands/dead-letters.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDryRun } from './commands/dry-run.ts';
import { registerOAuth } from './commands/oauth.ts';
import { registerPoll } from './commands/poll.ts';
import { registerProcess } from './commands/process.ts';
import { registerReplay } from './commands/replay.ts';
import { registerRun } from './commands/run.ts';
import { registerStatus } from './commands/status.ts';
import { registerValidate } from './commands/validate.ts';
import { Terminal } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('postroom')
    .description(
      'Postroom turns IMAP mailboxes into event streams: poll new mail by UID, store it, queue it, ' +
        'and apply your rules back on the server and outward.',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false })
    .addHelpText(
      'after',
      `
Examples:
  $ postroom validate --config postroom.yaml
  $ SUPPORT_IMAP_PASSWORD=... postroom poll --config postroom.yaml --account support
  $ postroom poll --config postroom.yaml --json | jq .fetched

Every command takes --help. Secrets are given in config by reference
({ env: NAME } locally, { secret: NAME-OR-ARN } in AWS) and are never printed.`,
    );
  registerValidate(program);
  registerPoll(program);
  registerProcess(program);
  registerDryRun(program);
  registerRun(program);
  registerDemo(program);
  registerStatus(program);
  registerDeadLetters(program);
  registerReplay(program);
  registerOAuth(program);
  return program;
}

/** Runs the CLI; resolves with the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  // Every command, not only the top one: commander's default for a bad
  // subcommand option is process.exit(1), and bad usage is exit 2 here.
  const overrideExits = (command: Command) => {
    command.exitOverride();
    for (const sub of command.commands) overrideExits(sub);
  };
  overrideExits(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    reportError(error, argv.includes('--verbose') || argv.includes('-v'));
    return error instanceof ConfigError ? 2 : 1;
  }
}

/** One short line (plus the config problems), a stack trace only with --verbose. */
export function reportError(
  error: unknown,
  verbose: boolean,
  terminal = new Terminal({ level: 'error' }),
): void {
  const message = describeError(error).message;
  terminal.say(`${terminal.paint('red', 'error')}: ${message}`);
  // A problem the first line already says (a missing file) is not said twice.
  if (error instanceof ConfigError)
    for (const problem of error.problems) if (!message.endsWith(problem)) terminal.say(`  ${problem}`);
  if (verbose && error instanceof Error && error.stack) terminal.say(error.stack);
}
