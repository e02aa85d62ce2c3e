/**
 * The `postroom` command runs with its own V8 heap settings however a user
 * starts it (lib/cli/heap-flags.ts): as the installed bin (its first line),
 * through `npm run postroom`, and through `npm start`. Each Node process
 * reports its flags and the heap limit V8 actually took, through a preload.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI_HEAP_FLAGS, CLI_HEAP_LIMIT_MB } from '#lib/cli/heap-flags.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

const run = promisify(execFile);
const REPORTER = join(REPO_ROOT, 'test', 'fixtures', 'report-heap.cjs');

interface Reported {
  /** The script the process ran (`process.argv[1]`), when it had one. */
  script: string;
  execArgv: string[];
  /** V8's heap limit in MiB. */
  mb: number;
}

/** What every Node process the command started reported. */
async function reports(file: string, args: string[]): Promise<Reported[]> {
  const { stderr } = await run(file, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: `--require ${REPORTER}`, NO_COLOR: '1' },
    timeout: 60_000,
  });
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('heap-report '))
    .map((line) => {
      const report = JSON.parse(line.slice('heap-report '.length)) as Reported;
      return { ...report, script: report.script ?? '' };
    });
}

/** The report of the one process that ran a script ending in `suffix`. */
function processRunning(reported: Reported[], suffix: string): Reported {
  const matching = reported.filter((process) => process.script.endsWith(suffix));
  expect(matching, `one process ran …${suffix}: ${JSON.stringify(reported)}`).toHaveLength(1);
  return matching[0]!;
}

/** The command's flags took effect: all of them, and V8's limit is theirs (plus the young generation). */
function expectCommandSettings(report: Reported): void {
  expect(report.execArgv).toEqual([...CLI_HEAP_FLAGS]);
  expect(report.mb).toBeGreaterThanOrEqual(CLI_HEAP_LIMIT_MB);
  expect(report.mb).toBeLessThan(CLI_HEAP_LIMIT_MB + 128);
}

describe('the postroom command heap settings', () => {
  it('apply to npx postroom, the installed bin (its first line)', async () => {
    expectCommandSettings(processRunning(await reports('npx', ['postroom', '--version']), '.bin/postroom'));
  });

  it('apply through npm run postroom and npm start, and not to node at large', async () => {
    const viaScript = await reports('npm', ['run', '--silent', 'postroom', '--', '--version']);
    const viaStart = await reports('npm', ['start', '--silent', '--', '--help']);
    expectCommandSettings(processRunning(viaScript, 'bin/postroom.js'));
    expectCommandSettings(processRunning(viaStart, 'bin/start.js'));
    // npm itself runs with Node's defaults: the settings are the command's own, not inherited.
    // (A report without a script is the command's own loader-hooks thread.)
    const npm = viaScript.filter((process) => process.script && !process.script.endsWith('bin/postroom.js'));
    expect(npm.length).toBeGreaterThan(0);
    for (const process of npm) expect(process.execArgv).not.toContain(CLI_HEAP_FLAGS[0]);
  });
});
