#!/usr/bin/env -S node --max-old-space-size=1024 --max-semi-space-size=8 --heap-growing-percent=150
// The first line sets V8's heap; lib/cli/heap-flags.ts says why.
// `npm start`: `postroom run` when the config names a real account, the demo
// when there is none, and the problems (exit 2) when the config is not valid
// (lib/sandbox/demo/start-mode.ts says what counts as real). Extra arguments
// are passed on: `npm start -- --verbose`.
import { loadCli } from './load-cli.js';

const { chooseStartMode, main } = await loadCli();

const file = process.env.POSTROOM_CONFIG_FILE || 'postroom.yaml';
const { mode, reason, problems = [] } = await chooseStartMode(file);
process.stderr.write(`postroom: ${reason}\n`);
if (mode === 'refuse') {
  for (const problem of problems) process.stderr.write(`  ${problem}\n`);
  process.exitCode = 2;
} else {
  const args = process.argv.slice(2);
  process.exitCode = await main(mode === 'run' ? ['run', '--config', file, ...args] : ['demo', ...args]);
}
