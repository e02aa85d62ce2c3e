/**
 * What `postroom process` and `postroom run` say about each processed
 * message: a table row (UID, subject, rules, actions, reason) and, for
 * `run --json`, one JSON line. Actions are listed in config order (rule, then
 * its `then` list), whatever order the server-side phases ran them in, and a
 * failed action says why.
 */
import { failureReports, isGone } from '../core/process.ts';
import type { ActionReport, ItemResult } from '../core/process-work.ts';
import type { Rule } from '../rules/schema.ts';

export const MESSAGE_TABLE_HEADERS = ['uid', 'subject', 'rules', 'actions', 'reason'];

/** One table row per message. */
export function messageRows(items: readonly ItemResult[], rules: readonly Rule[]): string[][] {
  return items.map((item) => [
    item.currentUid !== undefined ? `${item.uid} (now ${item.currentUid})` : String(item.uid),
    (item.subject ?? '').slice(0, 50),
    item.matched.join(', ') || '-',
    inConfigOrder(item.actions, rules).map(actionText).join('; ') || '-',
    rowReason(item),
  ]);
}

/** `move \Junk (failed: no \Junk (special-use) folder on the server)`, `emit x (not done)`. */
export function actionText(action: ActionReport): string {
  const what = `${action.kind}${action.detail ? ` ${action.detail}` : ''}`;
  if (action.status === 'done') return what;
  const status = action.status.replace('-', ' ');
  const withNote = action.status === 'failed' || action.status === 'skipped';
  return `${what} (${status}${withNote && action.note ? `: ${action.note}` : ''})`;
}

/** The reason column: what the actions do not already say. */
function rowReason(item: ItemResult): string {
  if (item.status === 'failed') {
    if (item.actions.some((a) => a.status === 'failed')) return 'stays queued: retried on the next run';
    return failureReports([item])
      .map((f) => f.reason)
      .join('; ');
  }
  if (isGone(item)) return 'gone from the server: not acted on';
  return '';
}

/** One message as `postroom run --json` writes it, one line each. */
export function messageJson(item: ItemResult, rules: readonly Rule[]): Record<string, unknown> {
  const reason = item.status === 'failed' ? failureReports([item])[0]?.reason : undefined;
  return {
    account: item.account,
    mailbox: item.mailbox,
    uid: item.uid,
    ...(item.currentUid !== undefined ? { currentUid: item.currentUid } : {}),
    ...(item.subject !== undefined ? { subject: item.subject } : {}),
    status: item.status === 'done' && isGone(item) ? 'gone' : item.status,
    rules: item.matched,
    actions: inConfigOrder(item.actions, rules),
    ...(item.warnings.length > 0 ? { warnings: item.warnings } : {}),
    ...(reason !== undefined ? { reason } : {}),
  };
}

/**
 * Sorted by the rule's place in the config, then by the action's place in its
 * `then` list (a later `move` the planner made a `copy` is found as the move).
 * Actions the config cannot place keep their order, after the others.
 */
export function inConfigOrder<A extends { rule: string; kind: string; detail?: string }>(
  actions: readonly A[],
  rules: readonly Rule[],
): A[] {
  const position = (action: A): number => {
    const ruleIndex = rules.findIndex((r) => r.name === action.rule);
    if (ruleIndex < 0) return Number.MAX_SAFE_INTEGER;
    const then = rules[ruleIndex]!.then as readonly Record<string, unknown>[];
    const step =
      action.kind === 'copy' || action.kind === 'move'
        ? then.findIndex((entry) => [entry.copy, entry.move].some((t) => targetName(t) === action.detail))
        : then.findIndex((entry) => entry[action.kind] !== undefined);
    return ruleIndex * 10_000 + (step < 0 ? 9_999 : step);
  };
  return actions
    .map((action, index) => ({ action, index, at: position(action) }))
    .sort((a, b) => a.at - b.at || a.index - b.index)
    .map((entry) => entry.action);
}

function targetName(target: unknown): string | undefined {
  if (typeof target === 'string') return target.trim();
  if (typeof target !== 'object' || target === null) return undefined;
  const { path, specialUse } = target as { path?: string; specialUse?: string };
  return path ?? specialUse;
}
