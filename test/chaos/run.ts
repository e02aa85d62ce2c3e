/**
 * `npm run chaos`: the fault-injection suite against a private Dovecot on
 * loopback. Seeded (CHAOS_SEED, printed), bounded (CHAOS_TRIALS per scenario,
 * CHAOS_SECONDS overall); CHAOS_SCENARIOS=a,b runs only those, CHAOS_MESSAGES
 * sets the ordinary messages per trial. Exits 1 when anything was lost,
 * doubled or hung.
 */
import { randomInt } from 'node:crypto';
import { startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { killAllPostroom } from '../helpers/cli.ts';
import { formatTable, runSeries } from './series.ts';

const numberFrom = (name: string, fallback: number): number => {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a non-negative number, got ${text}`);
  return value;
};

const seed = numberFrom('CHAOS_SEED', randomInt(1, 2 ** 31));
const trials = numberFrom('CHAOS_TRIALS', 50);
const seconds = numberFrom('CHAOS_SECONDS', 900);
const messages = numberFrom('CHAOS_MESSAGES', 12);
const only = process.env.CHAOS_SCENARIOS?.split(',').filter(Boolean);

console.log(
  `chaos: seed ${seed} (CHAOS_SEED=${seed} replays it), ${trials} trial(s) per scenario, budget ${seconds} s`,
);
const dovecot = await startPrivateDovecot({ variants: false });
const stop = async () => {
  await killAllPostroom();
  await dovecot.stop();
};
process.once('SIGINT', () => {
  void stop().finally(() => process.exit(130));
});
let failed = false;
try {
  const { addUser: _addUser, stop: _stop, ...info } = dovecot;
  const summaries = await runSeries({
    info,
    seed,
    trials,
    budgetMs: seconds * 1000,
    messages,
    ...(only ? { only } : {}),
    log: (line) => console.log(line),
  });
  console.log(`\nchaos: seed ${seed}\n${formatTable(summaries)}`);
  failed = summaries.some((s) => s.lost + s.doubled + s.hung > 0);
} finally {
  await stop();
}
process.exitCode = failed ? 1 : 0;
