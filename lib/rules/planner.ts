/**
 * The planner: which rules match a message, and the combined list of actions
 * to carry out. Pure: no IMAP, no I/O; the `process` use case executes the plan.
 *
 * How actions combine:
 * - Rules run in order; disabled rules and rules scoped to other accounts or
 *   mailboxes are skipped. A matching rule with `stop: true` (or a `stop`
 *   action) ends the evaluation after its own actions.
 * - The actions of all matching rules are listed in rule order, each with the
 *   rule that asked for it and a stable `key` (`<rule>#<index in then>`) for
 *   idempotency records.
 * - A message leaves its mailbox at most once. The first `move` or `delete`
 *   (in rule order) is its *disposition*; a later `move` becomes a `copy` (the
 *   message also lands there), and a later `delete` is dropped with a warning
 *   when the message is being moved (deleting would only lose the moved copy)
 *   or silently when it is a repeat. A `copy` to the folder the message is
 *   moved to, or a repeated copy, is dropped.
 * - The disposition is planned last among the actions: after a MOVE or an
 *   EXPUNGE the UID is gone from this mailbox, so flags and copies must come
 *   first (flags set before a MOVE travel with the message).
 */

import type { DetailItem } from '../mime/event-detail.ts';
import { plannedLabels } from './gmail-labels.ts';
import { compileCondition, conditionNeedsBody, type Truth } from './matcher.ts';
import type { RuleInput } from './message.ts';
import type { Condition, FolderTargetConfig, Rule, RuleSecretRef, SpecialUse } from './schema.ts';
import { LowerCache } from './string-match.ts';

/** A folder to copy or move to: a logical path (`/`-separated) or a special-use mailbox (RFC 6154). */
export type FolderTarget = { path: string } | { specialUse: SpecialUse };

/** One step of a plan. */
export type PlannedAction = {
  /** The rule that asked for it. */
  rule: string;
  /** `<rule>#<index in the rule's then list>`: stable across redeliveries, for idempotency. */
  key: string;
} & (
  | { kind: 'flag' | 'unflag'; flags: string[] }
  | { kind: 'label' | 'unlabel'; labels: string[] }
  | { kind: 'copy' | 'move'; target: FolderTarget }
  | { kind: 'delete' }
  | {
      kind: 'emit';
      detailType: string;
      /** Replaces the global `events.detail` for this event. */
      detail?: DetailItem[];
      textMaxBytes?: number;
    }
  | { kind: 'webhook'; url: string; secret: RuleSecretRef; timeoutMs: number; retries: number }
  | { kind: 'saveAttachments'; prefix: string }
);

export type PlannedActionKind = PlannedAction['kind'];

/** Where the message is: rules scoped with `accounts`/`mailboxes` apply only there. */
export interface RuleScope {
  account: string;
  /** The logical mailbox name (`/`-separated), as in config. */
  mailbox: string;
}

export interface Evaluation {
  /** Names of the rules that matched, in order. */
  matched: string[];
  /** The plan, in execution order (see the module comment). */
  actions: PlannedAction[];
  /** Parser warnings, rules skipped for lack of data, dropped actions. */
  warnings: string[];
  /** The rule whose `stop` ended the evaluation, if one did. */
  stoppedBy?: string;
}

export interface EvaluateOptions {
  /** "Now", for `age`. @default new Date() */
  now?: Date;
}

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'];

/** `\seen` -> `\Seen`: system flags in their canonical spelling, keywords as written. */
function canonicalFlag(flag: string): string {
  return SYSTEM_FLAGS.find((known) => known.toLowerCase() === flag.toLowerCase()) ?? flag;
}

/** The folder target of a `copy`/`move` in plan form. */
export function folderTarget(target: FolderTargetConfig): FolderTarget {
  return typeof target === 'string' ? { path: target.trim() } : { specialUse: target.specialUse };
}

function sameTarget(a: FolderTarget, b: FolderTarget): boolean {
  return 'path' in a ? 'path' in b && a.path === b.path : 'specialUse' in b && a.specialUse === b.specialUse;
}

function describe(target: FolderTarget): string {
  return 'path' in target ? target.path : target.specialUse;
}

/** INBOX is case-insensitive (RFC 3501 5.1); every other name is compared as written. */
function sameMailbox(a: string, b: string): boolean {
  return a === b || (a.toUpperCase() === 'INBOX' && b.toUpperCase() === 'INBOX');
}

/** True when the rule is enabled and scoped to (or not restricted from) this account and mailbox. */
export function ruleApplies(rule: Rule, scope: RuleScope): boolean {
  if (rule.enabled === false) return false;
  if (rule.accounts && !rule.accounts.includes(scope.account)) return false;
  if (rule.mailboxes && !rule.mailboxes.some((m) => sameMailbox(m, scope.mailbox))) return false;
  return true;
}

/**
 * True when any enabled rule (in `scope`, when given) has a condition that
 * needs more than the queue message's envelope: a header, the body,
 * attachments, Bcc/Delivered-To (`recipient`), or the list/bulk/autoReply
 * predicates. The consumer then loads and parses the raw message; otherwise the
 * envelope suffices. (`saveAttachments` reads the raw message on its own, only
 * for messages it applies to.)
 */
export function needsBody(rules: readonly Rule[], scope?: RuleScope): boolean {
  return rules.some(
    (rule) =>
      rule.enabled !== false &&
      (!scope || ruleApplies(rule, scope)) &&
      rule.when !== undefined &&
      conditionNeedsBody(rule.when),
  );
}

/** How much of the raw message the rules need: none (the envelope suffices), its header block, or all of it. */
export type ContentNeeded = 'none' | 'header' | 'body';

/** Condition keys answered by the header block alone. */
const HEADER_KEYS = new Set<string>(['recipient', 'header', 'autoReply', 'bulk', 'list']);

/**
 * What the enabled rules (in `scope`, when given) need of the raw message:
 * `header` when every condition beyond the envelope reads header fields only
 * (`header`, `recipient`, `list`, `bulk`, `autoReply`), `body` when any reads
 * the body or the attachments, `none` when the envelope answers them all.
 */
export function contentNeeded(rules: readonly Rule[], scope?: RuleScope): ContentNeeded {
  let needed: ContentNeeded = 'none';
  for (const rule of rules) {
    if (rule.enabled === false || (scope && !ruleApplies(rule, scope)) || rule.when === undefined) continue;
    const level = conditionContent(rule.when);
    if (level === 'body') return 'body';
    if (level === 'header') needed = 'header';
  }
  return needed;
}

function conditionContent(condition: Condition): ContentNeeded {
  let needed: ContentNeeded = 'none';
  for (const [key, value] of Object.entries(condition)) {
    if (value === undefined) continue;
    let level: ContentNeeded;
    if (key === 'all' || key === 'any') level = maxContent((value as Condition[]).map(conditionContent));
    else if (key === 'not') level = conditionContent(value as Condition);
    else if (HEADER_KEYS.has(key)) level = 'header';
    // Anything else beyond the envelope (the body, attachments, keys added later) needs the whole message.
    else level = conditionNeedsBody({ [key]: value } as Condition) ? 'body' : 'none';
    if (level === 'body') return 'body';
    if (level === 'header') needed = 'header';
  }
  return needed;
}

function maxContent(levels: ContentNeeded[]): ContentNeeded {
  return levels.includes('body') ? 'body' : levels.includes('header') ? 'header' : 'none';
}

/**
 * Evaluates `rules` in order against one message and plans the actions.
 *
 * A rule fires only when its condition is true. When it cannot be decided
 * (it needs the raw message, which was not loaded or could not be parsed) the
 * rule does not fire and a warning says so; envelope-level rules still apply.
 *
 * @example
 * const input = toRuleInput(queueMessage, needsBody(config.rules) ? await parseMessage(raw) : undefined);
 * const { matched, actions, warnings } = evaluate(input, config.rules, { account, mailbox });
 */
export function evaluate(
  input: RuleInput,
  rules: readonly Rule[],
  scope: RuleScope,
  options: EvaluateOptions = {},
): Evaluation {
  const ctx = { now: (options.now ?? new Date()).getTime(), lowerer: new LowerCache() };
  const matched: string[] = [];
  const warnings = [...input.warnings];
  const steps: PlannedAction[] = [];
  let disposition: PlannedAction | undefined;
  let stoppedBy: string | undefined;

  for (const rule of rules) {
    if (!ruleApplies(rule, scope)) continue;
    const truth: Truth = rule.when === undefined ? true : compileCondition(rule.when)(input, ctx);
    if (truth === undefined) {
      warnings.push(
        `rule ${rule.name}: not applied, its condition needs message content that is not available`,
      );
      continue;
    }
    if (!truth) continue;
    matched.push(rule.name);
    let stop = rule.stop === true;

    rule.then.forEach((action, index) => {
      const base = { rule: rule.name, key: `${rule.name}#${index}` };
      if (action.flag !== undefined || action.unflag !== undefined) {
        const kind = action.flag !== undefined ? 'flag' : 'unflag';
        const list = (action.flag ?? action.unflag)!;
        steps.push({ ...base, kind, flags: (Array.isArray(list) ? list : [list]).map(canonicalFlag) });
      } else if (action.copy !== undefined || action.move !== undefined) {
        const target = folderTarget((action.copy ?? action.move)!);
        if (action.move !== undefined && disposition === undefined) {
          disposition = { ...base, kind: 'move', target };
          return;
        }
        // A second move of the same message acts as a copy.
        const duplicate =
          (disposition?.kind === 'move' && sameTarget(disposition.target, target)) ||
          steps.some((step) => step.kind === 'copy' && sameTarget(step.target, target));
        if (!duplicate) steps.push({ ...base, kind: 'copy', target });
      } else if (action.delete !== undefined) {
        if (disposition === undefined) disposition = { ...base, kind: 'delete' };
        else if (disposition.kind === 'move') {
          warnings.push(
            `rule ${rule.name}: delete dropped, rule ${disposition.rule} already moves the message to ${describe(disposition.target)}`,
          );
        }
      } else if (action.emit !== undefined) {
        const emit = typeof action.emit === 'string' ? { detailType: action.emit } : action.emit;
        steps.push({
          ...base,
          kind: 'emit',
          detailType: emit.detailType,
          ...('detail' in emit && emit.detail !== undefined ? { detail: emit.detail } : {}),
          ...('textMaxBytes' in emit && emit.textMaxBytes !== undefined
            ? { textMaxBytes: emit.textMaxBytes }
            : {}),
        });
      } else if (action.webhook !== undefined) {
        const { url, secret, timeoutMs, retries } = action.webhook;
        steps.push({ ...base, kind: 'webhook', url, secret, timeoutMs, retries });
      } else if (action.saveAttachments !== undefined) {
        steps.push({ ...base, kind: 'saveAttachments', prefix: action.saveAttachments.prefix });
      } else if (action.label !== undefined || action.unlabel !== undefined) {
        const kind = action.label !== undefined ? 'label' : 'unlabel';
        steps.push({ ...base, kind, labels: plannedLabels((action.label ?? action.unlabel)!) });
      } else if (action.stop !== undefined) {
        stop = true;
      }
    });

    if (stop) {
      stoppedBy = rule.name;
      break;
    }
  }

  const actions = disposition ? [...steps, disposition] : steps;
  return stoppedBy === undefined ? { matched, actions, warnings } : { matched, actions, warnings, stoppedBy };
}
