/**
 * Bounded against any server (issue 11, section 3; DESIGN.md "Bounded against
 * the server"): the real `postroom poll`, in a child process, against an
 * in-process IMAP server that misbehaves on purpose. Whatever the server
 * does, the poll costs bounded memory (peak RSS ≤ 250 MB), ends within its
 * deadline, fails (where it fails) with one line naming the account, the
 * mailbox once one is selected, and what it was doing, and leaves the
 * checkpoint unchanged or correct: never past a UID that was not stored, and
 * a stored body is never replaced by another.
 *
 * The scenarios are defined in `test/helpers/hostile-imap-server.ts`, shared
 * with `bench/hostile.ts`. Each has its own server and store, so they run
 * concurrently; the deadlines are small to keep the file short.
 */
import { afterAll, describe, type ExpectStatic, it } from 'vitest';
import type { ImapLimits } from '#lib/config/schema.ts';
import { killAllPostroom } from '../helpers/cli.ts';
import {
  DUPLICATE_BODY,
  HOSTILE_SCENARIOS,
  type HostileScenario,
  UNASKED_UID,
} from '../helpers/hostile-imap-server.ts';
import {
  type PollRun,
  readBlob,
  readCheckpoint,
  readQueued,
  runScenario,
  type ScenarioRun,
} from '../helpers/hostile-poll.ts';

const LIMITS = { stallSeconds: 3, sessionSeconds: 8 } as const satisfies ImapLimits;
/** Peak RSS of the child, the target. */
const RSS_LIMIT_MB = 250;
/** "Refused at once": from the hostile act to the exit, well under stallSeconds. */
const FAST_MS = 2_000;
/** Past stallSeconds, from the act to the exit. */
const STALL_SLACK_MS = 2_000;
/**
 * Past sessionSeconds, from the first connection to the exit. A flood keeps
 * the child's CPU busy to the end, so on a loaded two-core machine it exits
 * seconds after its deadline fired; without the deadline it would not exit
 * at all.
 */
const SESSION_SLACK_MS = 5_000;
/**
 * Past sessionSeconds, from spawn to exit: Node's start-up included, which
 * takes several seconds with five polls starting at once on two cores. The
 * tight bound is the one from the first connection (SESSION_SLACK_MS).
 */
const COMMAND_SLACK_MS = 16_000;

interface Row {
  id: string;
  exits: string;
  error: string;
  wallS: string;
  sinceActS: string;
  rssMb: string;
}
const rows: Row[] = [];
const removals: (() => void)[] = [];

afterAll(async () => {
  await killAllPostroom();
  for (const remove of removals) remove();
  const order = new Map(HOSTILE_SCENARIOS.map((s, i) => [s.id, i]));
  rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  const headers: Row = {
    id: 'scenario',
    exits: 'exit',
    error: 'error line',
    wallS: 'wall s',
    sinceActS: 'act→exit s',
    rssMb: 'RSS MB',
  };
  const keys = Object.keys(headers) as (keyof Row)[];
  const widths = keys.map((k) => Math.max(headers[k].length, ...rows.map((r) => r[k].length)));
  const line = (r: Row) => keys.map((k, i) => r[k].padEnd(widths[i]!)).join('  ');
  console.log(
    [
      `postroom poll against hostile servers (limits ${JSON.stringify(LIMITS)})`,
      line(headers),
      ...rows.map(line),
    ].join('\n'),
  );
});

function record(scenario: HostileScenario, run: ScenarioRun): void {
  const seconds = (ms: number | undefined) => (ms === undefined ? '-' : (ms / 1000).toFixed(1));
  rows.push({
    id: scenario.id,
    exits: run.polls.map((p) => (p.killed ? `killed(${p.killed})` : String(p.code ?? p.signal))).join(','),
    error: (run.polls.find((p) => p.errorLines.length > 0)?.errorLines[0] ?? '').slice(0, 90),
    wallS: run.polls.map((p) => seconds(p.wallMs)).join(','),
    sinceActS: seconds(run.sinceHostileMs),
    rssMb: run.polls
      .map((p) => (p.peakRssKb === undefined ? '?' : String(Math.round(p.peakRssKb / 1024))))
      .join(','),
  });
}

/** (a) and (b): bounded memory and an end within the deadline. */
function assessBounded(expect: ExpectStatic, scenario: HostileScenario, run: ScenarioRun): void {
  for (const poll of run.polls) {
    expect.soft(poll.killed, 'the runner had to kill the poll').toBeUndefined();
    expect.soft(poll.rssFromPreload, 'the child exited by itself and reported its RSS').toBe(true);
    expect
      .soft((poll.peakRssKb ?? Number.POSITIVE_INFINITY) / 1024, 'peak RSS (MB)')
      .toBeLessThanOrEqual(RSS_LIMIT_MB);
    expect
      .soft(poll.wallMs, 'wall time of the command (ms)')
      .toBeLessThanOrEqual(LIMITS.sessionSeconds * 1000 + COMMAND_SLACK_MS);
  }
  const first = run.polls[0]!;
  if (scenario.ends === 'fast' || scenario.ends === 'stall') {
    const bound = scenario.ends === 'fast' ? FAST_MS : LIMITS.stallSeconds * 1000 + STALL_SLACK_MS;
    expect.soft(run.sinceHostileMs, 'the server reached its hostile act').toBeDefined();
    expect
      .soft(run.sinceHostileMs ?? 0, `from the hostile act to the exit (ms, ${scenario.ends})`)
      .toBeLessThanOrEqual(bound);
  } else {
    const connectedAt = run.server.connectedAt();
    expect.soft(connectedAt, 'the poll connected').toBeDefined();
    expect
      .soft(first.exitedAt - (connectedAt ?? first.exitedAt), 'from connecting to the exit (ms)')
      .toBeLessThanOrEqual(LIMITS.sessionSeconds * 1000 + SESSION_SLACK_MS);
  }
}

/** (c): a clean failure is a non-zero exit and one line naming the account (and mailbox, command). */
function assessFailure(expect: ExpectStatic, scenario: HostileScenario, poll: PollRun): void {
  expect.soft(poll.code, 'a failure exits non-zero (and is not killed)').toBeTypeOf('number');
  expect.soft(poll.code, 'a failure exits non-zero').not.toBe(0);
  expect.soft(poll.errorLines, 'exactly one `error:` line').toHaveLength(1);
  const error = poll.errorLines[0] ?? '';
  expect.soft(error, 'the error names the account').toMatch(/\bhostile\b/);
  for (const name of scenario.errorNames ?? []) expect.soft(error, `the error names ${name}`).toMatch(name);
  expect.soft(error.length, 'the error is a short line, not the server’s data').toBeLessThanOrEqual(400);
  expect.soft(poll.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
}

function assessSuccess(expect: ExpectStatic, poll: PollRun): void {
  expect.soft(poll.code, `exit 0 (stderr: ${poll.stderr.slice(0, 300)})`).toBe(0);
  expect.soft(poll.errorLines, 'no error line').toEqual([]);
  expect.soft(poll.json?.mailboxes?.[0]?.outcome, 'the mailbox was polled to the end').toBe('done');
}

/** (c) per poll, by the scenario's outcome; returns whether the last poll failed. */
function assessOutcome(expect: ExpectStatic, scenario: HostileScenario, run: ScenarioRun): boolean {
  let failed = false;
  for (const poll of run.polls) {
    failed = scenario.outcome === 'fails' || (scenario.outcome === 'either' && poll.code !== 0);
    if (failed) assessFailure(expect, scenario, poll);
    else assessSuccess(expect, poll);
  }
  return failed;
}

/** (d): the checkpoint unchanged or correct, and on success every message stored as the server sent it. */
function assessStore(
  expect: ExpectStatic,
  scenario: HostileScenario,
  run: ScenarioRun,
  failed: boolean,
): void {
  const checkpoint = readCheckpoint(run.storeDir);
  const planned = failed ? scenario.checkpoint.onFailure : scenario.checkpoint.onSuccess;
  if (planned === 'none') expect.soft(checkpoint, 'no checkpoint stored').toBeUndefined();
  else if (typeof planned === 'number') expect.soft(checkpoint?.lastUid, 'checkpoint lastUid').toBe(planned);
  else if (planned) {
    expect
      .soft(checkpoint?.lastUid ?? 0, `checkpoint never past UID ${planned.below}, which was not stored`)
      .toBeLessThan(planned.below);
  }
  if (failed) return;
  const { uidValidity, messages } = run.server.mailbox;
  for (const message of messages) {
    const blob = readBlob(run.storeDir, uidValidity, message.uid);
    expect
      .soft(blob?.toString('latin1'), `UID ${message.uid} stored as the server sent it`)
      .toBe(message.body.toString('latin1'));
  }
}

/** What some scenarios promise beyond the common checks. */
const EXTRA_CHECKS: Record<string, (expect: ExpectStatic, run: ScenarioRun, failed: boolean) => void> = {
  'duplicate-uid': (expect, run, failed) => {
    const poll = run.polls[0]!;
    expect.soft(poll.stderr, 'no crash in the progress count').not.toMatch(/Invalid count value/);
    const blob = readBlob(run.storeDir, run.server.mailbox.uidValidity, 1);
    expect
      .soft(blob?.equals(DUPLICATE_BODY) ?? false, 'the second body never replaces the first')
      .toBe(false);
    if (!failed) expect.soft(poll.stderr, 'the duplicate is reported as a warning').toMatch(/^warn .*uid/im);
  },
  'unasked-uid': (expect, run) => {
    expect
      .soft(readBlob(run.storeDir, run.server.mailbox.uidValidity, UNASKED_UID), 'UID 99 not stored')
      .toBeUndefined();
    expect
      .soft(
        readQueued(run.storeDir).map((m) => m.uid),
        'only the asked UIDs queued',
      )
      .toEqual([1, 2, 3]);
  },
  'uids-descending': (expect, run) => {
    const uids = readQueued(run.storeDir).map((m) => m.uid);
    expect
      .soft(
        uids.sort((a, b) => a - b),
        'every UID queued once',
      )
      .toEqual([1, 2, 3]);
  },
  'uidnext-0': (expect, run) => {
    const summary = run.polls.map((p) => ({
      fetched: p.json?.fetched,
      lastUid: p.json?.mailboxes?.[0]?.lastUid,
    }));
    expect.soft(summary, 'poll 1 stores 3, poll 2 finds nothing new, poll 3 finds UID 4').toEqual([
      { fetched: 3, lastUid: 3 },
      { fetched: 0, lastUid: 3 },
      { fetched: 1, lastUid: 4 },
    ]);
  },
  'internaldate-unpadded': (expect, run) => {
    const dates = readQueued(run.storeDir)
      .sort((a, b) => a.uid - b.uid)
      .map((m) => [m.uid, m.internalDate]);
    expect.soft(dates, 'the unpadded day parsed').toEqual([
      [1, '2026-01-01T10:00:00.000Z'],
      [2, '2026-01-02T10:00:00.000Z'],
      [3, '2026-01-03T10:00:00.000Z'],
    ]);
  },
};

describe.concurrent('postroom poll against a hostile IMAP server: bounded memory and time, a one-line error, a sound checkpoint', () => {
  for (const scenario of HOSTILE_SCENARIOS) {
    it(`${scenario.id}: when the server ${scenario.does}, ${scenario.expected}`, async ({ expect }) => {
      // Prepare: a fresh server and store (inside runScenario).
      // Act
      const run = await runScenario(scenario, {
        limits: LIMITS,
        timeoutMs: (LIMITS.sessionSeconds + 20) * 1000,
      });
      removals.push(run.remove);
      record(scenario, run);

      // Assess
      assessBounded(expect, scenario, run);
      const failed = assessOutcome(expect, scenario, run);
      assessStore(expect, scenario, run, failed);
      EXTRA_CHECKS[scenario.id]?.(expect, run, failed);
    });
  }
});
