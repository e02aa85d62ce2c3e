#!/usr/bin/env -S node --max-old-space-size=1024 --max-semi-space-size=8 --heap-growing-percent=150
// The first line sets V8's heap; lib/cli/heap-flags.ts says why.
import { loadCli } from './load-cli.js';

const { main } = await loadCli();
process.exitCode = await main(process.argv.slice(2));
