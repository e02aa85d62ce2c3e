/**
 * The short fault-injection run (`npm run chaos` is the long one): the real
 * `postroom poll`, `process` and `run` as child processes against the shared
 * private Dovecot, SIGKILLed, cut off, stalled and slowed through a loopback
 * proxy, their mailbox recreated under a new UIDVALIDITY, fed poison mail, and
 * then let finish. Each scenario must lose, double and hang nothing.
 * CHAOS_SEED replays a run; CHAOS_TRIALS sets the trials per scenario.
 */
import { randomInt } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTable, runSeries, type ScenarioSummary } from '../chaos/series.ts';
import { killAllPostroom } from '../helpers/cli.ts';
import { dovecotInfo } from '../helpers/dovecot.ts';

const SEED = Number(process.env.CHAOS_SEED) || randomInt(1, 2 ** 31);
/** CHAOS_TRIALS, when set, gives every scenario that many trials. */
const TRIALS = Number(process.env.CHAOS_TRIALS) || undefined;
/** Fewer messages than the long run: each trial starts several node processes on a small machine. */
const MESSAGES = 8;

/**
 * Modest counts, to stay near two minutes on a 2-core machine: two for the kill
 * of process (where a doubled event line shows up one trial in twenty), one elsewhere.
 */
const SCENARIOS: { name: string; trials: number }[] = [
  { name: 'kill-poll', trials: TRIALS ?? 1 },
  { name: 'kill-process', trials: TRIALS ?? 2 },
  { name: 'kill-run', trials: TRIALS ?? 1 },
  { name: 'cut-connection', trials: TRIALS ?? 1 },
  { name: 'stall-connection', trials: TRIALS ?? 1 },
  { name: 'slow-connection', trials: TRIALS ?? 1 },
  { name: 'uidvalidity-between', trials: TRIALS ?? 1 },
  { name: 'uidvalidity-mid-poll', trials: TRIALS ?? 1 },
  { name: 'poison-1000-parts', trials: TRIALS ?? 1 },
  { name: 'poison-parser-throws', trials: TRIALS ?? 1 },
  // Appending and fetching 60 MB costs more than any other trial: one, whatever CHAOS_TRIALS says.
  { name: 'poison-60mb', trials: 1 },
];

const seen: ScenarioSummary[] = [];
afterAll(async () => {
  await killAllPostroom();
  // The table of the whole file, as `npm run chaos` prints it.
  console.log(`chaos (seed ${SEED}):\n${formatTable(seen)}`);
});

describe(`fault injection (seed ${SEED})`, () => {
  it.each(SCENARIOS)(
    '$name loses, doubles and hangs nothing',
    async ({ name, trials }) => {
      // Prepare / Act: the scenario's trials, each seeded from the file's seed.
      const [summary] = await runSeries({
        info: dovecotInfo(),
        seed: SEED,
        trials,
        budgetMs: 150_000,
        messages: MESSAGES,
        only: [name],
      });
      seen.push(summary!);

      // Assess: every failure, with its reason, in the message.
      const failures = summary!.results.flatMap((r) =>
        r.findings.map((f) => `#${r.trial} (trial seed ${r.seed}) ${f.kind}: ${f.what}`),
      );
      expect(summary!.trials).toBe(trials);
      expect(failures, `seed ${SEED}`).toEqual([]);
    },
    300_000,
  );
});
