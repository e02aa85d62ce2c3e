/**
 * Evaluating and planning the Gmail words of the rule language (schemas in
 * `gmail-schema.ts`): the `labels` condition over the queue message's
 * `gmail.labels`, and the `label` / `unlabel` steps of a plan. Pure.
 */
import type { LabelsTest } from './gmail-schema.ts';

/** Gmail's system labels as X-GM-LABELS spells them. */
export const GMAIL_SYSTEM_LABELS = [
  '\\Inbox',
  '\\Important',
  '\\Starred',
  '\\Sent',
  '\\Draft',
  '\\Spam',
  '\\Trash',
] as const;

/** Gmail compares label names without regard to case, system labels included. */
function labelList(value: string | string[] | undefined): string[] {
  return value === undefined
    ? []
    : (Array.isArray(value) ? value : [value]).map((l) => l.trim().toLowerCase());
}

/** `labels: { has, lacks }` as a predicate; `undefined` labels (not a Gmail message) are unknown. */
export function compileLabels(
  test: LabelsTest,
): (labels: readonly string[] | undefined) => boolean | undefined {
  const has = labelList(test.has);
  const lacks = labelList(test.lacks);
  return (labels) => {
    if (labels === undefined) return undefined;
    const set = new Set(labels.map((l) => l.toLowerCase()));
    return has.every((l) => set.has(l)) && !lacks.some((l) => set.has(l));
  };
}

/** The labels of a `label` / `unlabel` action, as a list (system labels as Gmail spells them). */
export function plannedLabels(value: string | string[]): string[] {
  return (Array.isArray(value) ? value : [value]).map(
    (label) =>
      GMAIL_SYSTEM_LABELS.find((known) => known.toLowerCase() === label.trim().toLowerCase()) ?? label.trim(),
  );
}
