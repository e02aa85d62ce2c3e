/**
 * `postroom dry-run` streams a large message as `process` does: a 60 MB
 * message, from an .eml file and from the private Dovecot's mailbox, costs the
 * child process at most 200 MB peak RSS (it read the whole message into one
 * buffer and parsed that: 514 MB). The peak is what test/fixtures/report-rss.cjs
 * writes at exit.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attachmentMessage } from '../fixtures/messages.ts';
import { killAllPostroom, REPO_ROOT, runPostroom, writeConfigFile } from '../helpers/cli.ts';
import { appendMessages, dovecotInfo, freshUser, testAccount, withSetupClient } from '../helpers/dovecot.ts';

const MESSAGE_BYTES = 60 * 1024 * 1024;
const PEAK_RSS_KB = 200 * 1024;
/** A body rule, so the message is parsed (an envelope rule alone would not read it). */
const RULES = [{ name: 'pdf', when: { attachment: { type: 'application/pdf' } }, then: [{ emit: 'pdf' }] }];

afterEach(killAllPostroom);

let dir: string;
let message: Buffer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postroom-dry-run-memory-'));
  message = attachmentMessage(0, MESSAGE_BYTES);
  // A first run compiles the TypeScript sources into tsx's cache, which costs the
  // child memory of its own: warm it on a small message so the runs below measure dry-run.
  const small = join(dir, 'small.eml');
  writeFileSync(small, attachmentMessage(1, 10_000));
  const config = writeConfigFile({ accounts: [], rules: RULES }, 'postroom-dry-run-memory-');
  await runPostroom(['dry-run', '--config', config.file, small], { timeoutMs: 60_000 });
}, 90_000);

async function dryRunPeak(args: string[], env: Record<string, string> = {}) {
  const report = join(dir, `rss-${Date.now()}.json`);
  const result = await runPostroom(['dry-run', ...args, '--json'], {
    timeoutMs: 60_000,
    env: {
      ...env,
      POSTROOM_RSS_REPORT: report,
      NODE_OPTIONS: `--require ${join(REPO_ROOT, 'test/fixtures/report-rss.cjs')}`,
    },
  });
  expect(result.code, result.stderr).toBe(0);
  const { maxRssKb } = JSON.parse(readFileSync(report, 'utf8')) as { maxRssKb: number };
  return { entries: JSON.parse(result.stdout) as { rules: string[] }[], maxRssKb };
}

describe('postroom dry-run of a 60 MB message', () => {
  it('streams an .eml file: at most 200 MB peak RSS', async () => {
    // Prepare
    const file = join(dir, 'large.eml');
    writeFileSync(file, message);
    const config = writeConfigFile({ accounts: [], rules: RULES }, 'postroom-dry-run-memory-');

    // Act
    const { entries, maxRssKb } = await dryRunPeak(['--config', config.file, file]);

    // Assess
    expect(entries.map((e) => e.rules)).toEqual([['pdf']]);
    expect(maxRssKb).toBeLessThanOrEqual(PEAK_RSS_KB);
  });

  it('streams a message from the mailbox: at most 200 MB peak RSS', async () => {
    // Prepare
    const info = dovecotInfo();
    const user = freshUser(info, 'dry-large');
    await withSetupClient(info, user, (client) => appendMessages(client, 'INBOX', [message]));
    const config = writeConfigFile(
      { accounts: [testAccount(info, user, { tls: false })], rules: RULES },
      'postroom-dry-run-memory-',
    );

    // Act
    const { entries, maxRssKb } = await dryRunPeak(['--config', config.file], {
      POSTROOM_TEST_PASSWORD: user.password,
    });

    // Assess
    expect(entries.map((e) => e.rules)).toEqual([['pdf']]);
    expect(maxRssKb).toBeLessThanOrEqual(PEAK_RSS_KB);
  });
});
