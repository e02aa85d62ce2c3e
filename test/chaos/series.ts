/**
 * A seeded, time-boxed series of chaos trials: scenarios take turns (one
 * trial of each, then the next round), so an overall budget spreads over all
 * of them; a trial is never started once the budget is spent. Summaries give
 * the table `npm run chaos` prints and the vitest file asserts on.
 */
import type { DovecotInfo } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { SCENARIOS, type Scenario } from './scenarios.ts';
import { runTrial, type TrialResult, trialSeed } from './trial.ts';

export interface SeriesOptions {
  info: DovecotInfo;
  seed: number;
  /** Trials per scenario (at most). */
  trials: number;
  /** Overall budget: no trial starts after it. */
  budgetMs: number;
  /** Only these scenarios. @default all */
  only?: string[];
  messages: number;
  log?: (line: string) => void;
}

export interface ScenarioSummary {
  scenario: string;
  trials: number;
  kills: number;
  lost: number;
  doubled: number;
  hung: number;
  /** Distinct failure reasons with how often each was seen. */
  reasons: Map<string, number>;
  notes: Map<string, number>;
  results: TrialResult[];
}

export function selectScenarios(only?: string[]): Scenario[] {
  if (!only || only.length === 0) return SCENARIOS;
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0)
    throw new Error(
      `unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  return SCENARIOS.filter((s) => only.includes(s.name));
}

/** "keep tag-3: flag missing" → "flag missing"; numbers folded so reasons group. */
function reasonOf(what: string): string {
  const colon = what.indexOf(': ');
  const reason =
    colon >= 0 && /^(keep|move|delete|userDeleted) /.test(what)
      ? `${what.split(' ')[0]}: ${what.slice(colon + 2)}`
      : what;
  return reason.replace(/\d+/g, 'N');
}

export function summarize(results: TrialResult[], scenarios: Scenario[]): ScenarioSummary[] {
  return scenarios.map((s) => {
    const mine = results.filter((r) => r.scenario === s.name);
    const summary: ScenarioSummary = {
      scenario: s.name,
      trials: mine.length,
      kills: 0,
      lost: 0,
      doubled: 0,
      hung: 0,
      reasons: new Map(),
      notes: new Map(),
      results: mine,
    };
    for (const r of mine) {
      summary.kills += r.kills;
      for (const f of r.findings) {
        summary[f.kind]++;
        const reason = `${f.kind}: ${reasonOf(f.what)}`;
        summary.reasons.set(reason, (summary.reasons.get(reason) ?? 0) + 1);
      }
      for (const n of r.notes) {
        const note = n.replace(/\d+/g, 'N');
        summary.notes.set(note, (summary.notes.get(note) ?? 0) + 1);
      }
    }
    return summary;
  });
}

export async function runSeries(options: SeriesOptions): Promise<ScenarioSummary[]> {
  const scenarios = selectScenarios(options.only);
  const log = options.log ?? (() => {});
  const started = Date.now();
  const results: TrialResult[] = [];
  outer: for (let trial = 0; trial < options.trials; trial++) {
    for (const scenario of scenarios) {
      if (Date.now() - started > options.budgetMs) {
        log(`budget of ${Math.round(options.budgetMs / 1000)} s spent: stopping`);
        break outer;
      }
      const seed = trialSeed(options.seed, scenario.name, trial);
      log(`${scenario.name} #${trial} (trial seed ${seed})`);
      const result = await runTrial(scenario, trial, seed, {
        info: options.info,
        messages: options.messages,
        log,
      });
      const counts = (kind: string) => result.findings.filter((f) => f.kind === kind).length;
      log(
        `  -> ${Math.round(result.ms / 100) / 10} s, kills ${result.kills}, lost ${counts('lost')}, doubled ${counts('doubled')}, hung ${counts('hung')}` +
          (result.findings.length > 0
            ? `: ${result.findings
                .slice(0, 3)
                .map((f) => f.what)
                .join('; ')}`
            : ''),
      );
      results.push(result);
    }
  }
  return summarize(results, scenarios);
}

/** The table: scenario, trials, kills, lost, doubled, hung; then the reasons. */
export function formatTable(summaries: ScenarioSummary[]): string {
  const header = ['scenario', 'trials', 'kills', 'lost', 'doubled', 'hung'];
  const rows = summaries.map((s) => [s.scenario, s.trials, s.kills, s.lost, s.doubled, s.hung].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const s of summaries) {
    if (s.reasons.size === 0 && s.notes.size === 0) continue;
    out.push('', `${s.scenario}:`);
    for (const [reason, n] of [...s.reasons].sort((a, b) => b[1] - a[1])) out.push(`  ${n} x ${reason}`);
    for (const [note, n] of s.notes) out.push(`  (note) ${n} x ${note}`);
  }
  return out.join('\n');
}
