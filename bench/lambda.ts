/**
 * `npm run bench:lambda`: bundles both functions exactly as `cdk synth` does
 * (same construct, same esbuild options), then prints each bundle's size and
 * the time a fresh Node process takes to import its handler (median of 5).
 * Targets: each bundle under 2 MB, each import under 300 ms.
 *
 *   node --import tsx bench/lambda.ts [--config bench/lambda-config.yaml] [--runs 5] [--project-root DIR]
 *
 * `--project-root DIR` bundles `DIR/functions/{poll,process}.ts` instead of this
 * repo's (handy to compare a branch). Node here may differ from Lambda's Node 22.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { loadConfig } from '#lib/config/load.ts';
import {
  type FunctionBundle,
  type FunctionBundles,
  synthesizeFunctionBundles,
} from '../infra/function-bundles.ts';
import { BUNDLED_CONFIG_FILE, type FunctionSources } from '../infra/mailbox-processor.ts';

const SIZE_TARGET = 2 * 1000 * 1000;
const IMPORT_TARGET_MS = 300;

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'bench/lambda-config.yaml' },
    runs: { type: 'string', default: '5' },
    'project-root': { type: 'string' },
  },
});
const runs = Number(values.runs);

function sourcesUnder(root: string): FunctionSources {
  return {
    projectRoot: root,
    depsLockFilePath: join(root, 'package-lock.json'),
    pollEntry: join(root, 'functions', 'poll.ts'),
    processEntry: join(root, 'functions', 'process.ts'),
  };
}

/** Synthesises the stack into a temp dir and returns each function's bundle and environment. */
async function bundle(outdir: string): Promise<FunctionBundles> {
  const config = await loadConfig(resolve(values.config));
  const projectRoot = values['project-root'];
  return synthesizeFunctionBundles({
    config,
    outdir,
    ...(projectRoot ? { functionSources: sourcesUnder(resolve(projectRoot)) } : {}),
  });
}

interface Sizes {
  code: number;
  map: number;
  /** Roughly the deployment zip: every file deflated at level 9. */
  zipped: number;
}

function sizes(dir: string): Sizes {
  let zipped = 0;
  // Every file of the asset, the code tables folder included.
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      zipped += deflateRawSync(readFileSync(join(entry.parentPath, entry.name)), { level: 9 }).length;
  }
  return {
    code: statSync(join(dir, 'index.mjs')).size,
    map: statSync(join(dir, 'index.mjs.map')).size,
    zipped,
  };
}

// Runs in the fresh process: import the bundle and report how long it took.
const PROBE = `
const started = performance.now();
const cpuBefore = process.cpuUsage();
const mod = await import(process.argv[1]);
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
if (typeof mod.handler !== 'function') throw new Error('the bundle exports no handler function');
process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }));
`;

interface ImportTime {
  /** Wall-clock time of the import. */
  ms: number;
  /** CPU time of the import: less sensitive than wall time to a busy machine. */
  cpuMs: number;
}

function importTimes({ dir, environment }: FunctionBundle): ImportTime[] | string {
  const times: ImportTime[] = [];
  // The flags the construct gives the function in NODE_OPTIONS (none today), as Lambda applies them.
  const nodeOptions = String(environment.NODE_OPTIONS ?? '')
    .split(/\s+/)
    .filter(Boolean);
  for (let run = 0; run < runs; run++) {
    const result = spawnSync(
      process.execPath,
      [...nodeOptions, '--input-type=module', '-e', PROBE, join(dir, 'index.mjs')],
      {
        // As in Lambda: the bundle directory is the working directory and LAMBDA_TASK_ROOT.
        cwd: dir,
        encoding: 'utf8',
        timeout: 30_000,
        env: {
          PATH: process.env.PATH,
          LAMBDA_TASK_ROOT: dir,
          AWS_REGION: 'eu-west-1',
          AWS_LAMBDA_FUNCTION_NAME: 'postroom-bench',
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
          POSTROOM_BUCKET: 'bench-bucket',
          POSTROOM_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/000000000000/bench',
          POSTROOM_TABLE: 'bench-table',
          POSTROOM_EVENT_BUS: 'bench-bus',
          POSTROOM_CONFIG_FILE: BUNDLED_CONFIG_FILE,
          POWERTOOLS_SERVICE_NAME: 'postroom',
          POWERTOOLS_METRICS_NAMESPACE: 'Postroom',
        },
      },
    );
    if (result.status !== 0) {
      const reason = (result.stderr || result.error?.message || `exit ${result.status}`).trim().split('\n');
      return `import failed: ${reason.find((line) => /Error/.test(line)) ?? reason[0]}`;
    }
    times.push(JSON.parse(result.stdout) as ImportTime);
  }
  return times;
}

const median = (numbers: number[]): number => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
const mark = (ok: boolean): string => (ok ? 'ok' : 'OVER');

const outdir = mkdtempSync(join(tmpdir(), 'postroom-bench-'));
try {
  const started = performance.now();
  const dirs = await bundle(outdir);
  process.stderr.write(
    `bundled in ${((performance.now() - started) / 1000).toFixed(1)} s; Node ${process.version}, ` +
      `load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores\n`,
  );
  const rows: string[][] = [
    [
      'function',
      'index.mjs',
      'source map',
      'zip (approx.)',
      `import, median of ${runs}`,
      'min–max',
      'CPU, median',
    ],
  ];
  for (const name of ['poll', 'process'] as const) {
    const size = sizes(dirs[name].dir);
    const times = importTimes(dirs[name]);
    const wall = typeof times === 'string' ? [] : times.map((time) => time.ms);
    const timing =
      typeof times === 'string'
        ? [times, '', '']
        : [
            `${median(wall).toFixed(0)} ms ${mark(median(wall) < IMPORT_TARGET_MS)}`,
            `${Math.min(...wall).toFixed(0)}–${Math.max(...wall).toFixed(0)} ms`,
            `${median(times.map((time) => time.cpuMs)).toFixed(0)} ms`,
          ];
    rows.push([
      name,
      `${mb(size.code)} ${mark(size.code < SIZE_TARGET)}`,
      mb(size.map),
      mb(size.zipped),
      ...timing,
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
    if (index === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  }
  console.log(`\ntargets: index.mjs under ${mb(SIZE_TARGET)}, import under ${IMPORT_TARGET_MS} ms`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
