/**
 * One measured run in a fresh Node process, so each mode's peak RSS is its
 * own: `node --import tsx bench/lib/poll-child.ts MODE CONFIG.json`.
 *   poll      — the real poll use case with the config's store (local or aws)
 *   repeat    — warm polls in one process (the empty-poll figure)
 *   imap-only — the same IMAP path (EXAMINE, SEARCH, metadata, sources in
 *               batches, the envelope read from each header as poll does)
 *               into a sink that discards the bytes
 * Prints one JSON line: { ms, fetched, bytes, maxRssMb }.
 */
import { readFileSync } from 'node:fs';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { parseConfig } from '#lib/config/load.ts';
import { pollAccount } from '#lib/core/poll.ts';
import { heldLength, isHeldBytes } from '#lib/held-bytes.ts';
import { HeaderCapture, headerBlock, headerFacts } from '#lib/mime/header-envelope.ts';
import { silentLogger } from '#lib/ports.ts';

const [mode, configFile] = process.argv.slice(2);
const config = parseConfig(readFileSync(configFile!, 'utf8'), configFile);
const account = config.accounts[0]!;
const runtime = await openRuntime(config, { logger: silentLogger });

// BENCH_MEMORY_DETAIL: sample memory every 10 ms and report what made up the peak.
let peak: (NodeJS.MemoryUsage & { atMs: number; rssAnon: number; rssFile: number }) | undefined;
const sampler = process.env.BENCH_MEMORY_DETAIL
  ? setInterval(() => {
      const usage = process.memoryUsage();
      if (!peak || usage.rss > peak.rss) {
        // RssAnon is the process's own memory; RssFile is mapped code (node itself, native addons).
        const status = readFileSync('/proc/self/status', 'utf8');
        const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
        peak = {
          ...usage,
          atMs: Math.round(performance.now() - started),
          rssAnon: kb('RssAnon'),
          rssFile: kb('RssFile'),
        };
      }
    }, 10)
  : undefined;

let fetched = 0;
let bytes = 0;
const started = performance.now();
if (mode === 'poll') {
  const result = await pollAccount(runtime.pollDependencies(), { account, ingest: config.ingest });
  fetched = result.fetched;
  bytes = result.mailboxes.reduce((sum, m) => sum + m.bytes, 0);
} else if (mode === 'repeat') {
  // A warm process (a running `postroom run`, a warm Lambda): one poll to warm
  // up, then each of BENCH_REPEAT polls timed on its own.
  await pollAccount(runtime.pollDependencies(), { account, ingest: config.ingest });
  const each: number[] = [];
  for (let i = 0; i < Number(process.env.BENCH_REPEAT ?? 5); i++) {
    const t = performance.now();
    const result = await pollAccount(runtime.pollDependencies(), { account, ingest: config.ingest });
    each.push(performance.now() - t);
    fetched += result.fetched;
  }
  await runtime.close();
  process.stdout.write(`${JSON.stringify({ each, fetched })}\n`);
  process.exit(0);
} else if (mode === 'imap-only') {
  const session = await runtime.openSession(account);
  await session.examine('INBOX');
  const uids = await session.searchNewerThan(0);
  for (let i = 0; i < uids.length; i += config.ingest.batchMessages) {
    const metas = await session.fetchMeta(uids.slice(i, i + config.ingest.batchMessages));
    const sizes = new Map(metas.map((m) => [m.uid, m.size]));
    await session.fetchSources(
      metas.map((m) => m.uid),
      sizes,
      async (_uid, source) => {
        if (isHeldBytes(source)) {
          bytes += heldLength(source);
          headerFacts(headerBlock(source));
        } else {
          const capture = new HeaderCapture();
          for await (const chunk of source.pipe(capture)) bytes += (chunk as Buffer).length;
          headerFacts(await capture.header);
        }
        fetched += 1;
      },
    );
  }
  await session.logout();
} else {
  throw new Error(`unknown mode ${mode}`);
}
const ms = performance.now() - started;
clearInterval(sampler);
await runtime.close();
const mb = (bytes: number) => Math.round(bytes / 1e6);
const peakDetail = peak && {
  rss: mb(peak.rss),
  heapUsed: mb(peak.heapUsed),
  heapTotal: mb(peak.heapTotal),
  external: mb(peak.external),
  arrayBuffers: mb(peak.arrayBuffers),
  rssAnon: mb(peak.rssAnon),
  rssFile: mb(peak.rssFile),
  atMs: peak.atMs,
};
process.stdout.write(
  `${JSON.stringify({ ms, fetched, bytes, maxRssMb: process.resourceUsage().maxRSS / 1024, peakDetail })}\n`,
);
process.exit(0);
