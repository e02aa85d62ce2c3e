/**
 * `node --import tsx bench/hostile.ts`: the peak RSS and wall time of
 * `postroom poll` against each hostile-server scenario of issue 11 (the same
 * list `test/integration/imap-hostile.test.ts` runs, from
 * `test/helpers/hostile-imap-server.ts`), one at a time, with the default
 * limits except the deadlines, which are small enough for a run of a few
 * minutes. The test asserts the bounds; this prints the figures (target: peak
 * RSS ≤ 250 MB in each scenario, deadline cases ending at their deadline).
 *
 * Environment: HOSTILE_SESSION_SECONDS (default 20), HOSTILE_STALL_SECONDS
 * (default 5), HOSTILE_ONLY (comma list of scenario ids to run).
 */
import type { ImapLimits } from '#lib/config/schema.ts';
import { HOSTILE_SCENARIOS } from '../test/helpers/hostile-imap-server.ts';
import { runScenario } from '../test/helpers/hostile-poll.ts';

const limits: ImapLimits = {
  sessionSeconds: Number(process.env.HOSTILE_SESSION_SECONDS ?? 20),
  stallSeconds: Number(process.env.HOSTILE_STALL_SECONDS ?? 5),
};
const only = process.env.HOSTILE_ONLY?.split(',').filter(Boolean);
const scenarios = HOSTILE_SCENARIOS.filter((s) => !only || only.includes(s.id));

const rows: string[][] = [['scenario', 'outcome', 'wall s', 'act→exit s', 'peak RSS MB', 'planned']];
console.error(`hostile servers: ${scenarios.length} scenarios, limits ${JSON.stringify(limits)}`);
for (const scenario of scenarios) {
  const run = await runScenario(scenario, {
    limits,
    // A poll that ignores its deadline is killed well after it, so the run always ends.
    timeoutMs: ((limits.sessionSeconds ?? 20) + 30) * 1000,
  });
  run.remove();
  for (const [index, poll] of run.polls.entries()) {
    const exit = poll.killed ? `killed (${poll.killed})` : `exit ${poll.code ?? poll.signal}`;
    const error = poll.errorLines[0]?.replace(/^error: /, '').slice(0, 100);
    rows.push([
      run.polls.length > 1 ? `${scenario.id} #${index + 1}` : scenario.id,
      error ? `${exit}: ${error}` : exit,
      (poll.wallMs / 1000).toFixed(1),
      index === 0 && run.sinceHostileMs !== undefined ? (run.sinceHostileMs / 1000).toFixed(1) : '-',
      poll.peakRssKb === undefined
        ? '?'
        : `${Math.round(poll.peakRssKb / 1024)}${poll.rssFromPreload ? '' : '*'}`,
      `${scenario.outcome}, ${scenario.ends}`,
    ]);
  }
  console.error(`  ${scenario.id} done`);
}

const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
console.log('* sampled from /proc (the child was killed before it could report its own peak)');
