import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { matchCondition, type Truth } from '#lib/rules/matcher.ts';
import { parseMessage, type RuleInput, toRuleInput } from '#lib/rules/message.ts';
import { type Condition, conditionSchema } from '#lib/rules/schema.ts';
import { parseDuration, parseSize } from '#lib/rules/units.ts';

const NAMES = [
  'alert',
  'autoreply',
  'encoded-sjis',
  'encoded-utf8',
  'groups-idn',
  'invoice',
  'newsletter',
  'plain',
  'prize',
] as const;
type Fixture = (typeof NAMES)[number];

const inputs = {} as Record<Fixture, RuleInput>;

beforeAll(async () => {
  for (const name of NAMES) {
    const parsed = await parseMessage(
      await readFile(new URL(`../fixtures/rules/${name}.eml`, import.meta.url)),
    );
    inputs[name] = toRuleInput({ flags: [], internalDate: parsed.date }, parsed);
  }
});

/** Validates the condition as config would, then evaluates it on a fixture. */
function check(condition: unknown, fixture: Fixture | RuleInput, now?: Date): Truth {
  const parsed: Condition = conditionSchema.parse(condition);
  return matchCondition(parsed, typeof fixture === 'string' ? inputs[fixture] : fixture, { now });
}

/** The fixtures on which `condition` is true. */
function matching(condition: unknown): Fixture[] {
  return NAMES.filter((name) => check(condition, name) === true);
}

/** A message known only by its envelope (the raw message was not loaded). */
const envelopeOnly: RuleInput = {
  subject: 'Hello',
  from: [{ address: 'x@acme.example' }],
  to: [{ address: 'me@home.example' }],
  cc: [],
  size: 2048,
  flags: ['\\Seen'],
  internalDate: new Date('2026-01-01T00:00:00Z'),
  warnings: [],
};

describe('string tests', () => {
  it('treats a bare string as a case-insensitive contains', () => {
    expect(matching({ subject: 'ALERT' })).toEqual(['alert']);
  });

  it('is: compares the whole value, case-insensitively unless caseSensitive', () => {
    expect(matching({ subject: { is: 'lunch TOMORROW?' } })).toEqual(['plain']);
    expect(matching({ subject: { is: 'lunch TOMORROW?', caseSensitive: true } })).toEqual([]);
    expect(matching({ subject: { is: ['nope', 'Team update'] } })).toEqual(['groups-idn']);
  });

  it('contains: finds a substring; caseSensitive turns folding off', () => {
    expect(matching({ subject: { contains: '[alert]' } })).toEqual(['alert']);
    expect(matching({ subject: { contains: '[alert]', caseSensitive: true } })).toEqual([]);
  });

  it('matches: Sieve wildcards over the whole value, with escapes', () => {
    expect(matching({ subject: { matches: 'invoice ????-*' } })).toEqual(['invoice']);
    expect(matching({ subject: { matches: 'invoice' } })).toEqual([]);
    expect(matching({ subject: { matches: '*\\?' } })).toEqual(['autoreply', 'plain']);
    expect(matching({ subject: { matches: '\\[alert\\]*' } })).toEqual(['alert']);
  });

  it('regex: RE2, found anywhere in the decoded value, case-insensitive by default', () => {
    expect(matching({ subject: { regex: 'gewinn(spiel)?' } })).toEqual(['prize']);
    expect(matching({ subject: { regex: '^Gro.es', caseSensitive: true } })).toEqual(['prize']);
    expect(matching({ subject: { regex: '^gro.es', caseSensitive: true } })).toEqual([]);
    expect(matching({ subject: { regex: ['^テスト', 'bestanden$'] } })).toEqual([
      'encoded-sjis',
      'encoded-utf8',
    ]);
  });

  it('exists: presence of a value', () => {
    const noSubject: RuleInput = { ...envelopeOnly, subject: undefined };
    expect(check({ subject: { exists: false } }, noSubject)).toBe(true);
    expect(check({ subject: { exists: true } }, noSubject)).toBe(false);
    expect(check({ subject: { exists: true } }, 'plain')).toBe(true);
  });
});

describe('address conditions', () => {
  it('from: domain means that domain or a subdomain, never a lookalike', () => {
    const at = (address: string): RuleInput => ({ ...envelopeOnly, from: [{ address }] });
    expect(check({ from: { domain: 'acme.example' } }, at('a@acme.example'))).toBe(true);
    expect(check({ from: { domain: 'acme.example' } }, at('a@billing.ACME.example'))).toBe(true);
    expect(check({ from: { domain: 'acme.example' } }, at('a@notacme.example'))).toBe(false);
    expect(matching({ from: { domain: 'acme.example' } })).toEqual(['invoice']);
  });

  it('from: string tests look at the address, not the display name', () => {
    const spoof: RuleInput = {
      ...envelopeOnly,
      from: [{ name: 'boss@work.example', address: 'evil@bad.example' }],
    };
    expect(check({ from: { is: 'boss@work.example' } }, spoof)).toBe(false);
    expect(check({ from: 'boss@work' }, spoof)).toBe(false);
    expect(check({ from: { name: { is: 'boss@work.example' } } }, spoof)).toBe(true);
    expect(matching({ from: { name: 'acme billing' } })).toEqual(['invoice']);
  });

  it('matches internationalised domains in Unicode and punycode spellings', () => {
    expect(matching({ from: { domain: 'bücher.example' } })).toEqual(['groups-idn']);
    expect(matching({ from: { domain: 'xn--bcher-kva.example' } })).toEqual(['groups-idn']);
    expect(matching({ cc: { is: 'carol@xn--bcher-kva.example' } })).toEqual(['groups-idn']);
    expect(matching({ from: { contains: 'jorg@bücher' } })).toEqual(['groups-idn']);
  });

  it('to: sees the members of an address group', () => {
    expect(matching({ to: { is: 'bob@team.example' } })).toEqual(['groups-idn']);
    expect(matching({ to: { domain: 'team.example', name: 'bob' } })).toEqual(['groups-idn']);
    expect(matching({ to: { domain: 'team.example', name: 'carol' } })).toEqual([]);
  });

  it('cc: tests the Cc addresses only; exists counts them', () => {
    expect(matching({ cc: { exists: true } })).toEqual(['groups-idn']);
    expect(matching({ cc: { exists: false } })).toHaveLength(NAMES.length - 1);
  });

  it('recipient: any of To, Cc, Bcc and Delivered-To', () => {
    expect(matching({ recipient: { is: 'hidden@secret.example' } })).toEqual(['groups-idn']);
    expect(matching({ recipient: { contains: '+rules@' } })).toEqual(['groups-idn']);
    expect(matching({ recipient: { is: 'carol@bücher.example' } })).toEqual(['groups-idn']);
    expect(matching({ recipient: { is: 'oncall@home.example' } })).toEqual(['alert']);
  });

  it('recipient: decided from To/Cc alone when they match, unknown otherwise without the raw message', () => {
    expect(check({ recipient: 'me@home.example' }, envelopeOnly)).toBe(true);
    expect(check({ recipient: 'hidden@secret.example' }, envelopeOnly)).toBeUndefined();
  });
});

describe('content conditions', () => {
  it('header: any occurrence, decoded; exists for presence', () => {
    expect(matching({ header: { name: 'List-Id', exists: true } })).toEqual(['newsletter']);
    expect(matching({ header: { name: 'x-greeting', contains: 'grüße' } })).toEqual(['encoded-utf8']);
    expect(matching({ header: { name: 'Content-Type', matches: 'multipart/*' } })).toEqual([
      'autoreply',
      'invoice',
    ]);
  });

  it('body: the text part, or HTML reduced to text', () => {
    expect(matching({ body: 'latest stories' })).toEqual(['newsletter']);
    expect(matching({ body: '<b>' })).toEqual([]);
    expect(matching({ body: { regex: 'away until \\w+day' } })).toEqual(['autoreply']);
  });

  it('attachment: presence, name, type and size, all on one attachment', () => {
    expect(matching({ attachment: true })).toEqual(['invoice']);
    expect(matching({ attachment: false })).toHaveLength(NAMES.length - 1);
    expect(matching({ attachment: { name: { matches: '*.PDF' } } })).toEqual(['invoice']);
    expect(matching({ attachment: { name: { matches: '*.PDF', caseSensitive: true } } })).toEqual([]);
    expect(matching({ attachment: { type: { matches: 'application/*' }, size: { under: '1K' } } })).toEqual([
      'invoice',
    ]);
    expect(matching({ attachment: { type: 'pdf', size: { over: '1K' } } })).toEqual([]);
  });

  it('autoReply, bulk and list predicates read Auto-Submitted, Precedence and List-Id', () => {
    expect(matching({ autoReply: true })).toEqual(['autoreply']);
    expect(matching({ bulk: true })).toEqual(['newsletter']);
    expect(matching({ list: true })).toEqual(['newsletter']);
    expect(matching({ list: false })).toHaveLength(NAMES.length - 1);
    const notAuto: RuleInput = { ...envelopeOnly, headers: [{ name: 'auto-submitted', value: 'no' }] };
    expect(check({ autoReply: true }, notAuto)).toBe(false);
  });

  it('is unknown (not false) for content conditions when only the envelope is known', () => {
    for (const condition of [
      { header: { name: 'X-A', exists: false } },
      { body: 'x' },
      { attachment: false },
      { autoReply: false },
      { bulk: false },
      { list: false },
      { not: { body: 'x' } },
    ]) {
      expect(check(condition, envelopeOnly), JSON.stringify(condition)).toBeUndefined();
    }
  });
});

describe('envelope conditions', () => {
  it('size: over and under are strict, units are powers of 1024', () => {
    expect(parseSize('10MB')).toBe(10 * 1024 * 1024);
    expect(parseSize('500 KB')).toBe(512_000);
    expect(check({ size: { over: '2K' } }, envelopeOnly)).toBe(false);
    expect(check({ size: { over: '1K', under: '3 KB' } }, envelopeOnly)).toBe(true);
    expect(check({ size: { under: 2048 } }, envelopeOnly)).toBe(false);
  });

  it('age: elapsed time since the internal date', () => {
    const now = new Date('2026-02-15T00:00:00Z');
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(check({ age: { over: '30d' } }, envelopeOnly, now)).toBe(true);
    expect(check({ age: { over: '46 days' } }, envelopeOnly, now)).toBe(false);
    expect(check({ age: { under: '1100h' } }, envelopeOnly, now)).toBe(true);
  });

  it('date: before is strict, after includes the instant (IMAP BEFORE/SINCE)', () => {
    expect(check({ date: { before: '2026-01-01' } }, envelopeOnly)).toBe(false);
    expect(check({ date: { after: '2026-01-01' } }, envelopeOnly)).toBe(true);
    expect(check({ date: { after: '2025-12-31T23:00:00-02:00' } }, envelopeOnly)).toBe(false);
    expect(check({ date: { after: '2025-06-01', before: '2026-01-01T00:00:01Z' } }, envelopeOnly)).toBe(true);
  });

  it('flags: has all, lacks every one, case-insensitively', () => {
    expect(check({ flags: { has: '\\seen' } }, envelopeOnly)).toBe(true);
    expect(check({ flags: { has: ['\\Seen', '\\Flagged'] } }, envelopeOnly)).toBe(false);
    expect(check({ flags: { lacks: ['\\Flagged', 'todo'] } }, envelopeOnly)).toBe(true);
    expect(check({ flags: { lacks: '\\SEEN' } }, envelopeOnly)).toBe(false);
    expect(check({ flags: { has: '\\Seen' } }, { ...envelopeOnly, flags: undefined })).toBeUndefined();
  });
});

describe('combinators', () => {
  it('all: every part holds', () => {
    expect(matching({ all: [{ from: { domain: 'acme.example' } }, { attachment: true }] })).toEqual([
      'invoice',
    ]);
    expect(matching({ all: [{ from: { domain: 'acme.example' } }, { list: true }] })).toEqual([]);
  });

  it('any: one part holds', () => {
    expect(matching({ any: [{ subject: '[alert]' }, { list: true }] })).toEqual(['alert', 'newsletter']);
  });

  it('not: negates', () => {
    expect(matching({ not: { from: { domain: ['acme.example', 'example.org'] } } })).toEqual([
      'alert',
      'autoreply',
      'encoded-sjis',
      'groups-idn',
      'newsletter',
      'prize',
    ]);
  });

  it('several keys in one condition must all hold', () => {
    expect(matching({ bulk: true, list: false })).toEqual([]);
    expect(matching({ bulk: true, list: true })).toEqual(['newsletter']);
  });

  it('follows three-valued logic: false decides all, true decides any, unknown otherwise', () => {
    expect(check({ all: [{ subject: 'nope' }, { body: 'x' }] }, envelopeOnly)).toBe(false);
    expect(check({ all: [{ subject: 'hello' }, { body: 'x' }] }, envelopeOnly)).toBeUndefined();
    expect(check({ any: [{ subject: 'hello' }, { body: 'x' }] }, envelopeOnly)).toBe(true);
    expect(check({ any: [{ subject: 'nope' }, { body: 'x' }] }, envelopeOnly)).toBeUndefined();
  });
});
