/**
 * Evaluating conditions against a {@link RuleInput}, with three outcomes:
 * `true`, `false`, and `undefined` (unknown: the condition needs data the input
 * does not have, such as a header when the raw message could not be parsed).
 * `all`/`any`/`not` follow Kleene's three-valued logic, so `not` of an unknown
 * stays unknown and a rule never fires on a guess.
 *
 * Conditions are compiled once (patterns included) and cached per condition
 * object, so evaluating the same rules for many messages compiles nothing twice.
 */
import { domainToASCII } from 'node:url';
import { compileLabels } from './gmail-labels.ts';
import type { AttachmentInfo, MailAddress, RuleInput } from './message.ts';
import { asciiAddress } from './message.ts';
import type { AddressTest, Condition, FlagsTest, SizeRange, StringTest } from './schema.ts';
import { compileAuthTest, compileSpamTest, isBounce, isComplaint, SENDER_KEYS } from './sender-match.ts';
import { compileStringTest, LowerCache, type Lowerer, type TextPredicate } from './string-match.ts';
import { parseDuration, parseInstant, parseSize } from './units.ts';
import { CONDITION_KEYS, STRING_TEST_KEYS } from './vocabulary.ts';

/** `true`, `false`, or `undefined` for unknown. */
export type Truth = boolean | undefined;

/** What a compiled condition gets besides the input. */
export interface MatchContext {
  /** "Now" for `age`. */
  now: number;
  lowerer: Lowerer;
}

type Compiled = (input: RuleInput, ctx: MatchContext) => Truth;

/** Three-valued OR over lazily computed parts. */
function orLazy(parts: ReadonlyArray<() => Truth>): Truth {
  let unknown = false;
  for (const part of parts) {
    const value = part();
    if (value === true) return true;
    if (value === undefined) unknown = true;
  }
  return unknown ? undefined : false;
}

/** Three-valued AND over lazily computed parts: false wins, then unknown. */
function andLazy(parts: ReadonlyArray<() => Truth>): Truth {
  let unknown = false;
  for (const part of parts) {
    const value = part();
    if (value === false) return false;
    if (value === undefined) unknown = true;
  }
  return unknown ? undefined : true;
}

function pickStringTest(test: Record<string, unknown>): StringTest | undefined {
  const picked: Record<string, unknown> = {};
  let any = false;
  for (const key of [...STRING_TEST_KEYS, 'caseSensitive'] as const) {
    if (test[key] !== undefined) {
      picked[key] = test[key];
      if (key !== 'caseSensitive') any = true;
    }
  }
  return any ? (picked as StringTest) : undefined;
}

function asciiDomain(domain: string): string {
  return (domainToASCII(domain) || domain).toLowerCase().replace(/\.$/, '');
}

/**
 * An address test over several lists (for `recipient`: To, Cc, Bcc,
 * Delivered-To); an `undefined` list is unknown.
 */
function compileAddressTest(
  test: AddressTest,
): (lists: Array<MailAddress[] | undefined>, ctx: MatchContext) => Truth {
  if (typeof test === 'string') return compileAddressTest({ contains: test });
  if (test.exists !== undefined && test.domain === undefined && test.name === undefined) {
    const wanted = test.exists;
    return (lists) => {
      if (lists.some((list) => list !== undefined && list.length > 0)) return wanted;
      return lists.some((list) => list === undefined) ? undefined : !wanted;
    };
  }
  const stringTest = pickStringTest(test);
  const addressPredicate = stringTest ? compileStringTest(stringTest) : undefined;
  const namePredicate = test.name !== undefined ? compileStringTest(test.name) : undefined;
  const domains =
    test.domain === undefined
      ? undefined
      : (Array.isArray(test.domain) ? test.domain : [test.domain]).map(asciiDomain);
  const one = (a: MailAddress, lowerer: Lowerer): boolean => {
    if (addressPredicate) {
      // A Unicode-domain address is also tried in its punycode form, so either spelling in a rule works.
      const ok =
        addressPredicate(a.address, lowerer) ||
        (a.address !== undefined && addressPredicate(asciiAddress(a.address), lowerer));
      if (!ok) return false;
    }
    if (domains) {
      if (a.address === undefined) return false;
      const domain = asciiDomain(a.address.slice(a.address.lastIndexOf('@') + 1));
      // "in that domain": the domain itself or any subdomain (a.acme.example), never a lookalike (xacme.example).
      if (!domains.some((d) => domain === d || domain.endsWith(`.${d}`))) return false;
    }
    if (namePredicate && !namePredicate(a.name, lowerer)) return false;
    return true;
  };
  return (lists, ctx) =>
    orLazy(
      lists.map((list) => () => (list === undefined ? undefined : list.some((a) => one(a, ctx.lowerer)))),
    );
}

function compileSizeRange(range: SizeRange): (size: number) => boolean {
  const over = range.over === undefined ? undefined : parseSize(range.over);
  const under = range.under === undefined ? undefined : parseSize(range.under);
  return (size) => (over === undefined || size > over) && (under === undefined || size < under);
}

function flagList(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : (Array.isArray(value) ? value : [value]).map((f) => f.toLowerCase());
}

function compileFlags(test: FlagsTest): (flags: string[]) => boolean {
  const has = flagList(test.has);
  const lacks = flagList(test.lacks);
  // IMAP flags and keywords are case-insensitive (RFC 3501 2.3.2).
  return (flags) => {
    const set = new Set(flags.map((f) => f.toLowerCase()));
    return has.every((f) => set.has(f)) && !lacks.some((f) => set.has(f));
  };
}

function headerValues(input: RuleInput, name: string): string[] | undefined {
  return input.headers?.filter((h) => h.name === name).map((h) => h.value);
}

/** The first token of a header value, lower case: `auto-replied; owner-email=...` -> `auto-replied`. */
function token(value: string): string {
  return value
    .split(/[;\s(]/, 1)[0]!
    .trim()
    .toLowerCase();
}

/** RFC 3834 Auto-Submitted other than `no`, the common X- headers, or Precedence: auto_reply. */
export function isAutoReply(input: RuleInput): Truth {
  if (!input.headers) return undefined;
  return input.headers.some(
    (h) =>
      (h.name === 'auto-submitted' && token(h.value) !== 'no' && token(h.value) !== '') ||
      h.name === 'x-autoreply' ||
      h.name === 'x-autorespond' ||
      h.name === 'x-autoresponder' ||
      ((h.name === 'precedence' || h.name === 'x-precedence') && token(h.value) === 'auto_reply'),
  );
}

/** Precedence: bulk, junk or list (RFC 2076 describes the de-facto values). */
export function isBulk(input: RuleInput): Truth {
  const values = headerValues(input, 'precedence');
  return values === undefined ? undefined : values.some((v) => ['bulk', 'junk', 'list'].includes(token(v)));
}

/** A List-Id header (RFC 2919). */
export function isList(input: RuleInput): Truth {
  const values = headerValues(input, 'list-id');
  return values === undefined ? undefined : values.length > 0;
}

function when(wanted: boolean, value: Truth): Truth {
  return value === undefined ? undefined : value === wanted;
}

function compileAttachment(
  test: NonNullable<Condition['attachment']>,
): (list: AttachmentInfo[], ctx: MatchContext) => boolean {
  if (typeof test === 'boolean') return (list) => list.length > 0 === test;
  const name = test.name === undefined ? undefined : compileStringTest(test.name);
  const type = test.type === undefined ? undefined : compileStringTest(test.type);
  const size = test.size === undefined ? undefined : compileSizeRange(test.size);
  return (list, ctx) =>
    list.some(
      (a) =>
        (!name || name(a.filename, ctx.lowerer)) &&
        (!type || type(a.contentType, ctx.lowerer)) &&
        (!size || size(a.size)),
    );
}

/** Text, or undefined when there is none; an empty body counts as absent for `exists`. */
function presentText(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function messageTime(input: RuleInput): number | undefined {
  // The internal date is set by the server on arrival; the Date header is whatever the sender wrote.
  return (input.internalDate ?? input.date)?.getTime();
}

function compileKey(condition: Condition, key: (typeof CONDITION_KEYS)[number]): Compiled {
  switch (key) {
    case 'from':
    case 'to':
    case 'cc': {
      const test = compileAddressTest(condition[key]!);
      return (input, ctx) => test([input[key]], ctx);
    }
    case 'recipient': {
      const test = compileAddressTest(condition.recipient!);
      return (input, ctx) => test([input.to, input.cc, input.bcc, input.deliveredTo], ctx);
    }
    case 'subject': {
      const test: TextPredicate = compileStringTest(condition.subject!);
      return (input, ctx) => test(input.subject, ctx.lowerer);
    }
    case 'body': {
      const test = compileStringTest(condition.body!);
      return (input, ctx) =>
        input.text === undefined ? undefined : test(presentText(input.text), ctx.lowerer);
    }
    case 'header': {
      const { name } = condition.header!;
      const lower = name.toLowerCase();
      const stringTest = pickStringTest(condition.header!);
      const test = compileStringTest(stringTest!);
      const exists = condition.header!.exists;
      return (input, ctx) => {
        const values = headerValues(input, lower);
        if (values === undefined) return undefined;
        if (exists !== undefined) return values.length > 0 === exists;
        return values.some((value) => test(value, ctx.lowerer));
      };
    }
    case 'attachment': {
      const test = compileAttachment(condition.attachment!);
      return (input, ctx) => (input.attachments === undefined ? undefined : test(input.attachments, ctx));
    }
    case 'size': {
      const test = compileSizeRange(condition.size!);
      return (input) => (input.size === undefined ? undefined : test(input.size));
    }
    case 'age': {
      const over = condition.age!.over === undefined ? undefined : parseDuration(condition.age!.over);
      const under = condition.age!.under === undefined ? undefined : parseDuration(condition.age!.under);
      return (input, ctx) => {
        const time = messageTime(input);
        if (time === undefined) return undefined;
        const age = ctx.now - time;
        return (over === undefined || age > over) && (under === undefined || age < under);
      };
    }
    case 'date': {
      const before = condition.date!.before === undefined ? undefined : parseInstant(condition.date!.before);
      const after = condition.date!.after === undefined ? undefined : parseInstant(condition.date!.after);
      return (input) => {
        const time = messageTime(input);
        if (time === undefined) return undefined;
        return (before === undefined || time < before) && (after === undefined || time >= after);
      };
    }
    case 'flags': {
      const test = compileFlags(condition.flags!);
      return (input) => (input.flags === undefined ? undefined : test(input.flags));
    }
    case 'labels': {
      const test = compileLabels(condition.labels!);
      return (input) => test(input.labels);
    }
    case 'autoReply': {
      const wanted = condition.autoReply!;
      return (input) => when(wanted, isAutoReply(input));
    }
    case 'bulk': {
      const wanted = condition.bulk!;
      return (input) => when(wanted, isBulk(input));
    }
    case 'list': {
      const wanted = condition.list!;
      return (input) => when(wanted, isList(input));
    }
    case 'auth':
      return compileAuthTest(condition.auth!);
    case 'spam':
      return compileSpamTest(condition.spam!);
    case 'bounce': {
      const wanted = condition.bounce!;
      return (input) => when(wanted, isBounce(input));
    }
    case 'complaint': {
      const wanted = condition.complaint!;
      return (input) => when(wanted, isComplaint(input));
    }
    case 'all': {
      const parts = condition.all!.map(compileCondition);
      return (input, ctx) => andLazy(parts.map((part) => () => part(input, ctx)));
    }
    case 'any': {
      const parts = condition.any!.map(compileCondition);
      return (input, ctx) => orLazy(parts.map((part) => () => part(input, ctx)));
    }
    case 'not': {
      const inner = compileCondition(condition.not!);
      return (input, ctx) => {
        const value = inner(input, ctx);
        return value === undefined ? undefined : !value;
      };
    }
  }
}

const compiledConditions = new WeakMap<Condition, Compiled>();

/** Compiles (once per condition object) into a three-valued predicate. */
export function compileCondition(condition: Condition): Compiled {
  let compiled = compiledConditions.get(condition);
  if (!compiled) {
    const parts = CONDITION_KEYS.filter((key) => condition[key] !== undefined).map((key) =>
      compileKey(condition, key),
    );
    compiled =
      parts.length === 1 ? parts[0]! : (input, ctx) => andLazy(parts.map((part) => () => part(input, ctx)));
    compiledConditions.set(condition, compiled);
  }
  return compiled;
}

/**
 * Evaluates one condition: `true`, `false`, or `undefined` when it depends on
 * data the input lacks.
 */
export function matchCondition(
  condition: Condition,
  input: RuleInput,
  options: { now?: Date; lowerer?: Lowerer } = {},
): Truth {
  return compileCondition(condition)(input, {
    now: (options.now ?? new Date()).getTime(),
    lowerer: options.lowerer ?? new LowerCache(),
  });
}

/** Condition keys that the queue message's envelope cannot answer. */
const BODY_KEYS = new Set<string>([
  ...['recipient', 'header', 'body', 'attachment', 'autoReply', 'bulk', 'list'],
  ...SENDER_KEYS,
]);

/** True when the condition looks at anything beyond the envelope (subject, from, to, cc, date, size, flags). */
export function conditionNeedsBody(condition: Condition): boolean {
  return CONDITION_KEYS.some((key) => {
    if (condition[key] === undefined) return false;
    if (BODY_KEYS.has(key)) return true;
    if (key === 'all' || key === 'any') return condition[key]!.some(conditionNeedsBody);
    if (key === 'not') return conditionNeedsBody(condition.not!);
    return false;
  });
}
