#!/usr/bin/env -S node --max-old-space-size=1024
// The first line bounds V8's heap; lib/cli/heap-limit.ts says why.
import { loadCli } from './load-cli.js';

const { main } = await loadCli();
process.exitCode = await main(process.argv.slice(2));
