#!/usr/bin/env -S node --max-old-space-size=1024 --max-semi-space-size=8 --heap-growing-percent=150
// The first line sets V8's heap; lib/cli/heap-flags.ts says why.
import { exitAfterOutput, loadCli } from './load-cli.js';

const { main } = await loadCli();
const code = await main(process.argv.slice(2));
// The command has finished and said so: exit now rather than when the event
// loop drains. A server that flooded a session may leave the IMAP parser busy
// for seconds with bytes read before the session was closed, and nothing of
// that work matters any more. What was written to stdout and stderr goes first.
await exitAfterOutput(code);
