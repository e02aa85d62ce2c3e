import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { openRuntime } from '../../composition/open-runtime.ts';
import { loadConfig } from '../../config/load.ts';
import { type DryRunEntry, dryRunMailbox, dryRunRaw } from '../../core/dry-run.ts';
import { ConfigError } from '../../errors.ts';
import { inConfigOrder } from '../message-report.ts';
import {
  addCommonOptions,
  type GlobalOptions,
  positiveInteger,
  terminalFor,
  unknownAccount,
} from '../options.ts';
import { sharedRedactor, table } from '../output.ts';

interface DryRunOptions extends GlobalOptions {
  account?: string;
  mailbox?: string;
  limit: number;
}

export function registerDryRun(program: Command): void {
  addCommonOptions(
    program
      .command('dry-run')
      .summary('show which rules would fire on which messages, touching nothing')
      .description(
        'Evaluates the rules on .eml files, or on the newest messages of a mailbox (opened with ' +
          'EXAMINE and read with BODY.PEEK[]: nothing is changed, not even \\Seen), and prints the ' +
          'rules that match and the actions they would take.',
      )
      .argument('[files...]', '.eml files to evaluate instead of a mailbox')
      .option('-a, --account <id>', 'account to read from (default: the first)')
      .option('-m, --mailbox <name>', 'mailbox to read from', 'INBOX')
      .option('-n, --limit <n>', 'how many of the newest messages', positiveInteger, 20)
      .addHelpText(
        'after',
        `
Output with --json: an array, one entry per message:
  [ { "file" or "uid", "subject", "rules": [names], "actions": [ { "rule", "kind", "detail" } ] } ]

Examples:
  $ postroom dry-run --config postroom.yaml test/fixtures/rules/*.eml
  $ postroom dry-run --config postroom.yaml --account support --mailbox INBOX --limit 50 --json`,
      ),
  ).action(async (files: string[], options: DryRunOptions) => {
    const terminal = terminalFor(options);
    const config = await loadConfig(options.config);
    let entries: DryRunEntry[];
    if (files.length > 0) {
      const account = options.account ?? config.accounts[0]?.id ?? 'local';
      const authservId = config.accounts.find((a) => a.id === account)?.authservId;
      entries = [];
      for (const file of files) {
        // Streamed like `process` reads a blob: a large message is never read into memory whole.
        const { size } = await stat(file);
        entries.push({
          file,
          ...(await dryRunRaw(
            config.rules,
            createReadStream(file),
            {
              account,
              mailbox: options.mailbox ?? 'INBOX',
              ...(authservId !== undefined ? { authservIds: [authservId].flat() } : {}),
            },
            { size },
          )),
        });
      }
    } else {
      const account = options.account
        ? config.accounts.find((a) => a.id === options.account)
        : config.accounts[0];
      if (!account && options.account) throw unknownAccount(options.account, options.config, config.accounts);
      if (!account) {
        throw new ConfigError('no account to read from', [
          'accounts: no account configured (or give .eml files)',
        ]);
      }
      const runtime = await openRuntime(config, { logger: terminal, onSecret: (v) => sharedRedactor.add(v) });
      const session = await runtime.openSession(account);
      try {
        entries = await dryRunMailbox(
          session,
          config.rules,
          {
            account: account.id,
            mailbox: options.mailbox ?? 'INBOX',
            ...(account.authservId !== undefined ? { authservIds: [account.authservId].flat() } : {}),
          },
          options.limit,
        );
      } finally {
        await session.logout().catch(() => {});
        await runtime.close();
      }
    }
    if (options.json) {
      terminal.json(entries);
      return;
    }
    if (options.quiet) return;
    terminal.print(
      table(
        ['message', 'subject', 'rules', 'actions'],
        entries.map((e) => [
          e.file ? basename(e.file) : `uid ${e.uid}`,
          (e.subject ?? '').slice(0, 50),
          e.rules.join(', ') || '-',
          inConfigOrder(e.actions, config.rules)
            .map((a) => `${a.kind}${a.detail ? ` ${a.detail}` : ''}`)
            .join('; ') || '-',
        ]),
      ),
    );
    for (const e of entries)
      for (const w of e.warnings) terminal.say(`warning: ${e.file ?? `uid ${e.uid}`}: ${w}`);
  });
}
