/**
 * The `postroom` command runs with a bounded V8 heap however a user starts it
 * (lib/cli/heap-limit.ts): as the installed bin (its first line), through
 * `npm run postroom`, and through `npm start`. Each process reports the limit
 * V8 actually took, through a preload.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI_HEAP_LIMIT_MB } from '#lib/cli/heap-limit.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

const run = promisify(execFile);
const REPORTER = join(REPO_ROOT, 'test', 'fixtures', 'report-heap-limit.cjs');

interface Reported {
  /** The script the process ran (`process.argv[1]`), when it had one. */
  script: string;
  mb: number;
}

/** The heap limit (MiB) of every Node process the command started. */
async function heapLimits(file: string, args: string[]): Promise<Reported[]> {
  const { stderr } = await run(file, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: `--require ${REPORTER}`, NO_COLOR: '1' },
    timeout: 60_000,
  });
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('heap-limit '))
    .map((line) => {
      const { script, mb } = JSON.parse(line.slice('heap-limit '.length)) as { script?: string; mb: number };
      return { script: script ?? '', mb };
    });
}

/** The limit of the one process that ran a script ending in `suffix`. */
function limitOf(reported: Reported[], suffix: string): number | undefined {
  const matching = reported.filter((process) => process.script.endsWith(suffix));
  expect(matching, `one process ran …${suffix}: ${JSON.stringify(reported)}`).toHaveLength(1);
  return matching[0]?.mb;
}

// The old generation's limit plus the young generation's few tens of MiB.
const bounded = (mb: number | undefined) =>
  mb !== undefined && mb >= CLI_HEAP_LIMIT_MB && mb < CLI_HEAP_LIMIT_MB + 128;

describe('the postroom command heap limit', () => {
  it('applies to npx postroom, the installed bin (its first line)', async () => {
    const reported = await heapLimits('npx', ['postroom', '--version']);
    expect(bounded(limitOf(reported, '.bin/postroom'))).toBe(true);
  });

  it('applies through npm run postroom and npm start, and not to node at large', async () => {
    const viaScript = await heapLimits('npm', ['run', '--silent', 'postroom', '--', '--version']);
    const viaStart = await heapLimits('npm', ['start', '--silent', '--', '--help']);
    expect(bounded(limitOf(viaScript, 'bin/postroom.js'))).toBe(true);
    expect(bounded(limitOf(viaStart, 'bin/start.js'))).toBe(true);
    // npm itself runs with Node's default: the limit is the command's own, not inherited.
    const npm = viaScript.filter((process) => !process.script.endsWith('bin/postroom.js'));
    expect(npm.length).toBeGreaterThan(0);
    for (const { mb } of npm) expect(bounded(mb)).toBe(false);
  });
});
