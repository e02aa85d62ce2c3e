import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { parseMessage, type RuleInput, toRuleInput } from '#lib/rules/message.ts';
import { contentNeeded, evaluate, needsBody } from '#lib/rules/planner.ts';
import { type Rule, rulesSchema } from '#lib/rules/schema.ts';

const scope = { account: 'home', mailbox: 'INBOX' };

/** The rule language's example, verbatim (the contract; also in examples/postroom.example.yaml). */
const ISSUE_EXAMPLE = readFileSync(new URL('../fixtures/rules/issue-example.yaml', import.meta.url), 'utf8');

async function fixtureInput(name: string): Promise<RuleInput> {
  const parsed = await parseMessage(
    await readFile(new URL(`../fixtures/rules/${name}.eml`, import.meta.url)),
  );
  return toRuleInput({ flags: [], internalDate: parsed.date, size: parsed.size }, parsed);
}

/**
 * Parses rules written as objects, with `do` standing in for `then`: an object
 * literal with a `then` key looks like a thenable to the linter (noThenProperty).
 */
function rules(list: Array<Record<string, unknown>>): Rule[] {
  return rulesSchema.parse(
    list.map(({ do: actions, ...rest }) => Object.fromEntries([...Object.entries(rest), ['then', actions]])),
  );
}

const message: RuleInput = {
  subject: 'Quarterly report',
  from: [{ address: 'cfo@acme.example' }],
  to: [{ address: 'me@home.example' }],
  cc: [],
  size: 5000,
  flags: [],
  warnings: [],
};

describe('the rule language example', () => {
  const config = parseConfig(ISSUE_EXAMPLE);
  const cases = [
    { fixture: 'invoice', matched: ['invoices'] },
    { fixture: 'alert', matched: ['alerts'] },
    { fixture: 'newsletter', matched: ['newsletters'] },
    { fixture: 'prize', matched: ['prizes'] },
    { fixture: 'plain', matched: [] },
    { fixture: 'autoreply', matched: [] },
    { fixture: 'groups-idn', matched: [] },
    { fixture: 'encoded-utf8', matched: [] },
    { fixture: 'encoded-sjis', matched: [] },
  ];

  it.each(cases)('on $fixture.eml fires exactly $matched', async ({ fixture, matched }) => {
    // Prepare
    const input = await fixtureInput(fixture);

    // Act
    const result = evaluate(input, config.rules, scope);

    // Assess
    expect(result.matched).toEqual(matched);
    expect(result.warnings).toEqual([]);
  });

  it('plans the invoice rule: move last, the event kept, evaluation stopped', async () => {
    // Act
    const result = evaluate(await fixtureInput('invoice'), config.rules, scope);

    // Assess
    expect(result.stoppedBy).toBe('invoices');
    expect(result.actions).toEqual([
      { rule: 'invoices', key: 'invoices#1', kind: 'emit', detailType: 'invoice.received' },
      { rule: 'invoices', key: 'invoices#0', kind: 'move', target: { path: 'Finance/Invoices' } },
    ]);
  });

  it('plans the other three rules as written', async () => {
    // Act
    const [alert, newsletter, prize] = await Promise.all(
      ['alert', 'newsletter', 'prize'].map(async (name) =>
        evaluate(await fixtureInput(name), config.rules, scope),
      ),
    );

    // Assess
    expect(alert!.actions).toEqual([
      { rule: 'alerts', key: 'alerts#0', kind: 'flag', flags: ['\\Flagged', 'alert'] },
      { rule: 'alerts', key: 'alerts#1', kind: 'emit', detailType: 'alert.received' },
    ]);
    expect(newsletter!.actions).toEqual([
      { rule: 'newsletters', key: 'newsletters#0', kind: 'copy', target: { path: 'Newsletters' } },
      { rule: 'newsletters', key: 'newsletters#1', kind: 'flag', flags: ['\\Seen'] },
    ]);
    expect(prize!.actions).toEqual([{ rule: 'prizes', key: 'prizes#0', kind: 'delete' }]);
  });

  it('needs the raw message (for the header and attachment conditions)', () => {
    expect(needsBody(config.rules)).toBe(true);
  });
});

describe('evaluate', () => {
  it('combines the actions of several matching rules in rule order', () => {
    // Prepare
    const list = rules([
      { name: 'a', when: { subject: 'report' }, do: [{ flag: '\\seen' }, { emit: 'a.seen' }] },
      { name: 'b', when: { from: { domain: 'acme.example' } }, do: [{ flag: 'acme' }] },
      { name: 'c', when: { subject: 'nope' }, do: [{ emit: 'never' }] },
    ]);

    // Act
    const result = evaluate(message, list, scope);

    // Assess
    expect(result.matched).toEqual(['a', 'b']);
    expect(result.actions.map((a) => a.key)).toEqual(['a#0', 'a#1', 'b#0']);
    expect(result.actions[0]).toMatchObject({ kind: 'flag', flags: ['\\Seen'] });
  });

  it('turns a second move of the same message into a copy and keeps the first move last', () => {
    // Prepare
    const list = rules([
      { name: 'first', do: [{ move: 'Reports' }, { flag: 'x' }] },
      { name: 'second', do: [{ move: { specialUse: '\\Archive' } }] },
      { name: 'third', do: [{ copy: 'Reports' }, { move: 'Reports' }] },
    ]);

    // Act
    const result = evaluate(message, list, scope);

    // Assess: the copy to the move's own target and the repeat are dropped.
    expect(result.actions).toEqual([
      { rule: 'first', key: 'first#1', kind: 'flag', flags: ['x'] },
      { rule: 'second', key: 'second#0', kind: 'copy', target: { specialUse: '\\Archive' } },
      { rule: 'first', key: 'first#0', kind: 'move', target: { path: 'Reports' } },
    ]);
  });

  it('drops a delete after a move, with a warning, and copies a move after a delete', () => {
    // Prepare
    const moveThenDelete = rules([
      { name: 'keep', do: [{ move: 'Keep' }] },
      { name: 'purge', do: [{ delete: true }] },
    ]);
    const deleteThenMove = rules([
      { name: 'purge', do: [{ delete: true }, { delete: true }] },
      { name: 'keep', do: [{ move: 'Keep' }] },
    ]);

    // Act
    const first = evaluate(message, moveThenDelete, scope);
    const second = evaluate(message, deleteThenMove, scope);

    // Assess
    expect(first.actions.map((a) => a.kind)).toEqual(['move']);
    expect(first.warnings).toEqual([
      'rule purge: delete dropped, rule keep already moves the message to Keep',
    ]);
    expect(second.actions.map((a) => `${a.kind}:${a.key}`)).toEqual(['copy:keep#0', 'delete:purge#0']);
    expect(second.warnings).toEqual([]);
  });

  it('stops after a rule with stop: true or a stop action', () => {
    // Prepare
    const list = rules([
      { name: 'one', do: [{ emit: 'one' }, { stop: true }, { emit: 'after-stop-in-same-rule' }] },
      { name: 'two', do: [{ emit: 'two' }] },
    ]);
    const ruleLevel = rules([
      { name: 'one', stop: true, do: [{ emit: 'one' }] },
      { name: 'two', do: [{ emit: 'two' }] },
    ]);

    // Act
    const byAction = evaluate(message, list, scope);
    const byRule = evaluate(message, ruleLevel, scope);

    // Assess
    expect(byAction.matched).toEqual(['one']);
    expect(byAction.actions.map((a) => a.key)).toEqual(['one#0', 'one#2']);
    expect(byAction.stoppedBy).toBe('one');
    expect(byRule.matched).toEqual(['one']);
  });

  it('does not stop on a rule that did not match', () => {
    // Prepare
    const list = rules([
      { name: 'one', when: { subject: 'nope' }, stop: true, do: [{ emit: 'one' }] },
      { name: 'two', do: [{ emit: 'two' }] },
    ]);

    // Act
    const result = evaluate(message, list, scope);

    // Assess
    expect(result.matched).toEqual(['two']);
    expect(result.stoppedBy).toBeUndefined();
  });

  it('applies rules only in their accounts and mailboxes (INBOX in any case), and never disabled ones', () => {
    // Prepare
    const list = rules([
      { name: 'work-only', accounts: ['work'], do: [{ emit: 'w' }] },
      { name: 'home-inbox', accounts: ['home'], mailboxes: ['inbox'], do: [{ emit: 'h' }] },
      { name: 'lists', mailboxes: ['Lists/Dev'], do: [{ emit: 'l' }] },
      { name: 'off', enabled: false, do: [{ emit: 'o' }] },
    ]);

    // Act
    const home = evaluate(message, list, { account: 'home', mailbox: 'INBOX' });
    const work = evaluate(message, list, { account: 'work', mailbox: 'Lists/Dev' });

    // Assess
    expect(home.matched).toEqual(['home-inbox']);
    expect(work.matched).toEqual(['work-only', 'lists']);
  });

  it('skips a rule that needs unavailable content with a warning, and still applies envelope rules', () => {
    // Prepare
    const list = rules([
      { name: 'lists', when: { not: { list: true } }, do: [{ emit: 'not-a-list' }] },
      { name: 'subject', when: { subject: 'report' }, do: [{ emit: 'report' }] },
    ]);

    // Act
    const result = evaluate({ ...message, warnings: ['message could not be parsed: x'] }, list, scope);

    // Assess
    expect(result.matched).toEqual(['subject']);
    expect(result.warnings).toEqual([
      'message could not be parsed: x',
      'rule lists: not applied, its condition needs message content that is not available',
    ]);
  });

  it('plans webhooks with their defaults and attachment exports with their prefix', () => {
    // Prepare
    const list = rules([
      {
        name: 'hook',
        do: [
          { webhook: { url: 'https://hooks.example/x', secret: { env: 'HOOK_KEY' } } },
          { saveAttachments: { prefix: 'attachments/acme/' } },
        ],
      },
    ]);

    // Act
    const result = evaluate(message, list, scope);

    // Assess
    expect(result.actions).toEqual([
      {
        rule: 'hook',
        key: 'hook#0',
        kind: 'webhook',
        url: 'https://hooks.example/x',
        secret: { env: 'HOOK_KEY' },
        timeoutMs: 10_000,
        retries: 3,
      },
      { rule: 'hook', key: 'hook#1', kind: 'saveAttachments', prefix: 'attachments/acme/' },
    ]);
  });
});

describe('needsBody', () => {
  it('is false when every condition can be answered from the envelope', () => {
    const list = rules([
      {
        name: 'env',
        when: {
          all: [{ from: 'a' }, { to: 'b' }, { cc: 'c' }, { subject: 's' }],
          any: [{ size: { over: 1 } }, { age: { over: '1d' } }, { date: { before: '2026-01-01' } }],
          not: { flags: { has: '\\Seen' } },
        },
        do: [{ saveAttachments: { prefix: 'a/' } }],
      },
      { name: 'always', do: [{ emit: 'x' }] },
    ]);
    expect(needsBody(list)).toBe(false);
  });

  it('is true for content conditions, however deeply nested, in enabled rules in scope', () => {
    for (const when of [
      { recipient: 'x' },
      { header: { name: 'X', exists: true } },
      { body: 'x' },
      { attachment: true },
      { autoReply: true },
      { bulk: true },
      { not: { any: [{ subject: 's' }, { all: [{ list: true }] }] } },
    ]) {
      expect(needsBody(rules([{ name: 'r', when, do: [{ emit: 'x' }] }])), JSON.stringify(when)).toBe(true);
    }
    const disabled = rules([{ name: 'r', enabled: false, when: { body: 'x' }, do: [{ emit: 'x' }] }]);
    const elsewhere = rules([{ name: 'r', accounts: ['work'], when: { body: 'x' }, do: [{ emit: 'x' }] }]);
    expect(needsBody(disabled)).toBe(false);
    expect(needsBody(elsewhere, scope)).toBe(false);
    expect(needsBody(elsewhere)).toBe(true);
  });
});

describe('contentNeeded', () => {
  it('asks for the header block when every content condition reads header fields only', () => {
    for (const when of [
      { recipient: 'x' },
      { header: { name: 'X', exists: true } },
      { autoReply: true },
      { all: [{ bulk: true }, { subject: 's' }] },
      { not: { any: [{ subject: 's' }, { all: [{ list: true }] }] } },
    ]) {
      const list = rules([
        { name: 'h', when, do: [{ emit: 'x' }] },
        { name: 'e', when: { from: 'a' }, do: [{ emit: 'x' }] },
      ]);
      expect(contentNeeded(list), JSON.stringify(when)).toBe('header');
    }
  });

  it('asks for the whole message when any enabled rule in scope reads the body or attachments', () => {
    for (const when of [
      { body: 'x' },
      { attachment: true },
      { any: [{ header: { name: 'X', exists: true } }, { not: { body: 'y' } }] },
    ]) {
      const list = rules([
        { name: 'h', when: { list: true }, do: [{ emit: 'x' }] },
        { name: 'b', when, do: [{ emit: 'x' }] },
      ]);
      expect(contentNeeded(list), JSON.stringify(when)).toBe('body');
    }
    const elsewhere = rules([
      { name: 'b', accounts: ['work'], when: { body: 'x' }, do: [{ emit: 'x' }] },
      { name: 'h', when: { list: true }, do: [{ emit: 'x' }] },
    ]);
    expect(contentNeeded(elsewhere, scope)).toBe('header');
    expect(contentNeeded(rules([{ name: 'e', when: { size: { over: 1 } }, do: [{ emit: 'x' }] }]))).toBe(
      'none',
    );
  });
});
