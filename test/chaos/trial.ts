/**
 * One chaos trial and a series of them: seed a world, inject a scenario's
 * faults, let the pipeline finish without faults (poll and process again until
 * the queue is empty, bounded in rounds and time), check, tear down. A killed
 * holder's poll lease or received messages that block the clean-up are
 * reported as `hung` (DESIGN.md: taken over quickly, not after five minutes)
 * and then released in the store, so the trial still reaches its checks.
 */
import Database from 'better-sqlite3';
import type { DovecotInfo } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { type CliResult, killAllPostroom, runPostroom, spawnPostroom } from '../helpers/cli.ts';
import { checkCheckpoint, checkWorld, type Finding, readStore } from './checks.ts';
import { createRng, type Scenario, type TrialContext } from './scenarios.ts';
import { createWorld, type World } from './world.ts';

export interface TrialResult {
  scenario: string;
  trial: number;
  seed: number;
  kills: number;
  findings: Finding[];
  notes: string[];
  ms: number;
}

export interface TrialOptions {
  info: DovecotInfo;
  messages: number;
  /** @default 40 s */
  commandMs?: number;
  /** Clean-up rounds (poll + process) before the pipeline counts as stuck. @default 5 */
  cleanupRounds?: number;
  log?: (line: string) => void;
}

const STALL_SECONDS = 4;
/** A kill waiting for server bytes fires after this long anyway. */
const KILL_BOUND_MS = 8000;

/** A stable 32-bit seed for (run seed, scenario, trial). */
export function trialSeed(seed: number, scenario: string, trial: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const ch of `${scenario}#${trial}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

function outcomeOf(result: CliResult | undefined): { fetched: number; locked: boolean } {
  try {
    const parsed = JSON.parse(result?.stdout ?? '') as { fetched: number; mailboxes: { outcome: string }[] };
    return { fetched: parsed.fetched, locked: parsed.mailboxes.some((m) => m.outcome === 'locked') };
  } catch {
    return { fetched: -1, locked: false };
  }
}

/** Frees what a killed process holds (leases, received messages), as a quick takeover would. */
function releaseStale(world: World, what: 'leases' | 'received'): void {
  const db = new Database(`${world.config.storeDir}/postroom.db`, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    if (what === 'leases') db.prepare('UPDATE leases SET expires_at = 0').run();
    else db.prepare('UPDATE queue_messages SET visible_at = 0 WHERE visible_at > ?').run(Date.now());
  } finally {
    db.close();
  }
}

export async function runTrial(
  scenario: Scenario,
  trial: number,
  seed: number,
  options: TrialOptions,
): Promise<TrialResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const rng = createRng(seed);
  const commandMs = scenario.commandMs ?? options.commandMs ?? 40_000;
  const findings: Finding[] = [];
  const notes: string[] = [];
  let kills = 0;
  const world = await createWorld({
    info: options.info,
    messages: scenario.messages ?? options.messages,
    stallSeconds: STALL_SECONDS,
    tag: `${scenario.name.replace(/[^a-z0-9]/g, '').slice(0, 10)}${trial}`,
    ...(scenario.poison ? { poison: scenario.poison() } : {}),
  });

  const run = async (command: 'poll' | 'process', timeoutMs = commandMs): Promise<CliResult | undefined> => {
    const t0 = Date.now();
    const result = await runPostroom([command, '--config', world.config.file, '--json'], {
      env: world.env,
      timeoutMs,
    });
    const ms = Date.now() - t0;
    if (result.signal === 'SIGKILL') {
      findings.push({ kind: 'hung', what: `${command} ran past its ${timeoutMs} ms deadline` });
      return undefined;
    }
    if (result.code === 13) {
      findings.push({ kind: 'hung', what: `${command} exited 13 (a promise never settled) after ${ms} ms` });
      return undefined;
    }
    return result;
  };

  const ctx: TrialContext = {
    world,
    rng,
    commandMs,
    run,
    async killSomewhere(command, maxDelayMs, maxBytes) {
      const byBytes = rng.next() < 0.7;
      const delayMs = byBytes ? Math.max(2 * maxDelayMs, KILL_BOUND_MS) : rng.int(200, maxDelayMs);
      const afterBytes = byBytes ? rng.int(0, maxBytes) : Number.POSITIVE_INFINITY;
      // Loopback hands a whole FETCH response over in one read: paced in small
      // pieces, the byte count (and so the kill) can land inside it.
      if (byBytes)
        world.proxy.arm({ kind: 'slow', bytesPerSecond: rng.int(50_000, 400_000), chunkBytes: 512 });
      const from = world.proxy.forwarded();
      const cli = spawnPostroom(
        [command, '--config', world.config.file, ...(command === 'run' ? [] : ['--json'])],
        {
          env: world.env,
        },
      );
      const until = Date.now() + delayMs;
      while (!cli.hasExited() && Date.now() < until && world.proxy.forwarded() - from < afterBytes)
        await new Promise((resolve) => setTimeout(resolve, 5));
      const at = byBytes
        ? `${world.proxy.forwarded() - from} of ${afterBytes} server bytes`
        : `${delayMs} ms`;
      if (!cli.hasExited()) {
        cli.signal('SIGKILL');
        kills++;
        log(`  SIGKILL ${command} at ${at}`);
      } else log(`  ${command} ended before its kill at ${at}`);
      await cli.exited;
      world.proxy.disarm();
    },
    finding: (f) => findings.push(f),
    log: (line) => log(`  ${line}`),
  };

  try {
    try {
      await scenario.faults(ctx);
    } finally {
      world.proxy.disarm();
    }
    findings.push(...(await checkCheckpoint(world)));
    await settle(world, run, findings, options.cleanupRounds ?? 5, log);
    findings.push(...(await checkCheckpoint(world)));
    const checked = await checkWorld(world);
    findings.push(...checked.findings);
    notes.push(...checked.notes);
  } catch (error) {
    findings.push({
      kind: 'hung',
      what: `trial failed: ${error instanceof Error ? error.message : String(error)}`,
    });
  } finally {
    await killAllPostroom();
    await world.close();
  }
  return { scenario: scenario.name, trial, seed, kills, findings, notes, ms: Date.now() - started };
}

/**
 * Poll and process without faults until a poll fetches nothing and the queue
 * is empty. A `locked` poll or invisible received messages, with nothing
 * running, are a dead holder's: reported once, then released.
 */
async function settle(
  world: World,
  run: (command: 'poll' | 'process') => Promise<CliResult | undefined>,
  findings: Finding[],
  rounds: number,
  log: (line: string) => void,
): Promise<void> {
  let reportedLease = false;
  let reportedReceived = false;
  for (let round = 0; round < rounds; round++) {
    const poll = await run('poll');
    if (!poll) return;
    const { fetched, locked } = outcomeOf(poll);
    if (locked) {
      if (!reportedLease)
        findings.push({
          kind: 'hung',
          what: 'a killed poll left its lease: the next poll skipped the mailbox (locked)',
        });
      reportedLease = true;
      log('  released a stale poll lease');
      releaseStale(world, 'leases');
      continue;
    }
    if (!(await run('process'))) return;
    const store = readStore(world);
    if (store.invisible > 0) {
      if (!reportedReceived)
        findings.push({
          kind: 'hung',
          what: `${store.invisible} message(s) received by a killed process stayed invisible`,
        });
      reportedReceived = true;
      log('  released messages held by a dead receiver');
      releaseStale(world, 'received');
      continue;
    }
    if (fetched === 0 && store.pending === 0) return;
  }
  const store = readStore(world);
  findings.push({
    kind: 'hung',
    what: `the pipeline did not finish in ${rounds} clean rounds (${store.pending} message(s) still queued)`,
  });
}
