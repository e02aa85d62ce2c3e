/**
 * imapfilter (Debian `/usr/bin/imapfilter`) as the yardstick for
 * `bench:process`: the same five rules written in its Lua, run over plaintext
 * on the private Dovecot, timed as a whole job (start, login, server-side
 * SEARCH, the commands, logout).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const IMAPFILTER = '/usr/bin/imapfilter';

/** The five rules of the benchmark, as imapfilter's Lua (they mirror `headerRules()` in bench/process.ts). */
function luaRules(host: string, port: number, user: string, password: string): string {
  return `
options.starttls = false
options.timeout = 120
local account = IMAP { server = '${host}', port = ${port}, username = '${user}', password = '${password}' }
local inbox = account.INBOX
inbox:contain_from('alice@'):add_flags({ '\\\\Flagged' })
inbox:contain_field('X-Campaign', 'spring'):add_flags({ '$Spring' })
inbox:match_subject('message [0-9]*5$'):copy_messages(account['Archive'])
inbox:match_subject('message [0-9]*7$'):move_messages(account['Filed'])
inbox:match_subject('message [0-9]*9$'):delete_messages()
`;
}

/** Runs the job once; returns its wall time in ms, or throws with imapfilter's own words. */
export function runImapfilter(host: string, port: number, user: string, password: string): number {
  const home = mkdtempSync(join(tmpdir(), 'postroom-bench-imapfilter-'));
  try {
    const config = join(home, 'config.lua');
    writeFileSync(config, luaRules(host, port, user, password));
    const started = performance.now();
    const run = spawnSync(IMAPFILTER, ['-c', config], {
      env: { ...process.env, HOME: home },
      encoding: 'utf8',
    });
    const ms = performance.now() - started;
    if (run.status !== 0)
      throw new Error(`imapfilter exited ${run.status}: ${run.stderr.trim() || run.stdout.trim()}`);
    return ms;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
