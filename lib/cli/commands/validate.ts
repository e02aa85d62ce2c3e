import type { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { mailboxSettings } from '../../config/mailbox-settings.ts';
import { configWarnings } from '../../config/warnings.ts';
import { ConfigError } from '../../errors.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';

export function registerValidate(program: Command): void {
  addCommonOptions(
    program
      .command('validate')
      .summary('check a config file and say what is wrong, by path')
      .description(
        'Checks the config file against the schema: unknown keys, wrong types, invalid rules. ' +
          'Prints "config OK" and a summary, or every problem as "path: message" and exits 2. ' +
          'A valid config can still be certain to fail here (an unset { env } variable, a { secret } with a local store, ' +
          'a missing tlsOptions.ca file): those are warnings after "config OK", and the exit code stays 0.',
      )
      .addHelpText(
        'after',
        `
Examples:
  $ postroom validate --config postroom.yaml
  config OK: 1 account (2 mailboxes), 4 rules, store local (.postroom)
  warning: accounts[0].auth.password: environment variable SUPPORT_IMAP_PASSWORD is not set here
  $ postroom validate --config broken.yaml
  accounts[0].port: expected a number`,
      ),
  ).action(async (options: GlobalOptions) => {
    const terminal = terminalFor(options);
    try {
      const config = await loadConfig(options.config);
      const mailboxes = config.accounts.reduce((n, a) => n + mailboxSettings(a).length, 0);
      const store =
        config.store.kind === 'local' ? `local (${config.store.dir})` : `aws (${config.store.bucket})`;
      const summary = `${plural(config.accounts.length, 'account')} (${plural(mailboxes, 'mailbox', 'mailboxes')}), ${plural(config.rules.length, 'rule')}, store ${store}`;
      const warnings = configWarnings(config);
      if (options.json) {
        terminal.json({
          ok: true,
          accounts: config.accounts.length,
          mailboxes,
          rules: config.rules.length,
          store: config.store.kind,
          warnings,
        });
      } else {
        terminal.print(`config OK: ${summary}`);
        for (const warning of warnings) terminal.say(`warning: ${warning}`);
      }
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (options.json) terminal.json({ ok: false, problems: error.problems });
      else for (const problem of error.problems) terminal.print(problem);
      process.exitCode = 2;
    }
  });
}

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}
