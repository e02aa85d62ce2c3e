/**
 * What every `postroom` command shares: the common options and the terminal
 * they configure. Its own module, so that the commands need not import the
 * program that registers them.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../errors.ts';
import { type LogLevel, Terminal } from './output.ts';

/** Options every command accepts. */
export interface GlobalOptions {
  config: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  trace?: boolean;
}

export function terminalFor(options: GlobalOptions): Terminal {
  const level: LogLevel = options.verbose ? 'debug' : options.quiet || options.json ? 'error' : 'warn';
  return new Terminal({ level });
}

export function addCommonOptions(command: Command, { config = true } = {}): Command {
  if (config) {
    command.addOption(
      new Option('-c, --config <file>', 'config file (YAML or JSON)')
        .env('POSTROOM_CONFIG_FILE')
        .default('postroom.yaml'),
    );
  }
  return command
    .option('--json', 'print one JSON document on stdout (for scripts); logs go to stderr')
    .option('-v, --verbose', 'more detail in logs, and stack traces on errors')
    .option('-q, --quiet', 'only errors');
}

/** Parses an option that must be a whole number of at least 1 (`--limit`, `--batch-size`): commander exits 2 otherwise. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

/** `--account bobby` that the config does not have: the error lists the ids it does have. */
export function unknownAccount(id: string, file: string, accounts: readonly { id: string }[]): ConfigError {
  return new ConfigError(`no account "${id}" in ${file}`, [
    `--account: expected one of ${accounts.map((a) => a.id).join(', ') || '(no accounts configured)'}`,
  ]);
}
