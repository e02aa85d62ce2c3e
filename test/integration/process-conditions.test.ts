/**
 * Every kind of rule condition, end to end: mail APPENDed to a real Dovecot,
 * polled into the local queue, processed by the local driver with one rule per
 * condition, each of which sets its own keyword. The keywords read back from
 * the server say which conditions held for which message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessResult } from '#lib/core/process.ts';
import { attachmentMessage, textMessage } from '../fixtures/messages.ts';
import { createProcessHarness, type ProcessHarness, ruleFixture } from '../helpers/process-harness.ts';

/** One rule per condition kind; each flags the message with `c-<kind>`. */
const rules = [
  { name: 'from', when: { from: { domain: 'acme.example' } }, then: [{ flag: 'c-from' }] },
  { name: 'to', when: { to: { domain: 'team.example' } }, then: [{ flag: 'c-to' }] },
  { name: 'cc', when: { cc: { domain: 'bücher.example' } }, then: [{ flag: 'c-cc' }] },
  { name: 'recipient', when: { recipient: { contains: '+rules@' } }, then: [{ flag: 'c-recipient' }] },
  { name: 'subject', when: { subject: { contains: '[alert]' } }, then: [{ flag: 'c-subject' }] },
  { name: 'regex', when: { subject: { regex: 'gewinn(spiel)?' } }, then: [{ flag: 'c-regex' }] },
  { name: 'header', when: { header: { name: 'List-Id', exists: true } }, then: [{ flag: 'c-header' }] },
  { name: 'body', when: { body: 'see you at noon' }, then: [{ flag: 'c-body' }] },
  { name: 'body-html', when: { body: 'latest stories' }, then: [{ flag: 'c-body-html' }] },
  {
    name: 'attachment',
    when: { attachment: { name: { matches: '*.pdf' } } },
    then: [{ flag: 'c-attachment' }],
  },
  { name: 'size', when: { size: { over: '100KB', under: '1MB' } }, then: [{ flag: 'c-size' }] },
  { name: 'age', when: { age: { over: '30d' } }, then: [{ flag: 'c-age' }] },
  { name: 'date', when: { date: { before: '2021-01-01' } }, then: [{ flag: 'c-date' }] },
  { name: 'flags', when: { flags: { has: '\\Flagged', lacks: '\\Seen' } }, then: [{ flag: 'c-flags' }] },
  { name: 'auto-reply', when: { autoReply: true }, then: [{ flag: 'c-autoreply' }] },
  { name: 'bulk', when: { bulk: true }, then: [{ flag: 'c-bulk' }] },
  { name: 'list', when: { list: true }, then: [{ flag: 'c-list' }] },
  {
    name: 'all-any-not',
    when: {
      all: [
        { any: [{ subject: '[alert]' }, { list: true }] },
        { not: { header: { name: 'Precedence', exists: true } } },
      ],
    },
    then: [{ flag: 'c-combined' }],
  },
  {
    name: 'scoped-here',
    accounts: ['test'],
    mailboxes: ['INBOX'],
    when: { subject: { is: 'Lunch tomorrow?' } },
    then: [{ flag: 'c-scoped' }],
  },
  {
    name: 'scoped-elsewhere',
    mailboxes: ['Archive'],
    when: { subject: 'Lunch' },
    then: [{ flag: 'c-never' }],
  },
  { name: 'disabled', enabled: false, when: { subject: 'Lunch' }, then: [{ flag: 'c-never' }] },
];

describe('rule conditions through the whole pipeline', () => {
  let harness: ProcessHarness;
  let uid: Record<string, number>;
  let results: ProcessResult[];
  let keywords: Map<number, string[]>;

  beforeAll(async () => {
    // Prepare
    harness = await createProcessHarness({ rules });
    const names = ['invoice', 'groups-idn', 'alert', 'prize', 'newsletter', 'plain', 'autoreply'];
    const raws = [
      ...names.map((name) => ruleFixture(`${name}.eml`)),
      attachmentMessage(1, 150 * 1024, { namespace: harness.user.user, filename: 'photo.jpg' }),
      {
        raw: textMessage(2, { namespace: harness.user.user, subject: 'Old news' }),
        internalDate: new Date('2020-03-01T10:00:00Z'),
      },
      { raw: textMessage(3, { namespace: harness.user.user, subject: 'Starred' }), flags: ['\\Flagged'] },
    ];
    const uids = await harness.append(raws);
    uid = Object.fromEntries([...names, 'big', 'old', 'starred'].map((name, index) => [name, uids[index]!]));

    // Act
    await harness.poll();
    results = await harness.drain();
    const flags = await harness.flags();
    keywords = new Map([...flags].map(([u, list]) => [u, list.filter((f) => f.startsWith('c-')).sort()]));
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('processes every message without a failure', () => {
    expect(results.reduce((n, r) => n + r.processed, 0)).toBe(Object.keys(uid).length);
    expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
    expect(harness.queue.stats()).toMatchObject({ queued: 0, inFlight: 0, deadLetter: 0 });
  });

  it('matches address conditions on From, To, Cc and any recipient (groups, IDN, Delivered-To)', () => {
    expect(keywords.get(uid.invoice!)).toEqual(['c-attachment', 'c-from']);
    expect(keywords.get(uid['groups-idn']!)).toEqual(['c-cc', 'c-recipient', 'c-to']);
  });

  it('matches the decoded subject with contains and with an RE2 regex', () => {
    expect(keywords.get(uid.alert!)).toEqual(['c-combined', 'c-subject']);
    // The subject is RFC 2047 ISO-8859-1 ("Großes Gewinnspiel für Sie").
    expect(keywords.get(uid.prize!)).toEqual(['c-regex']);
  });

  it('matches headers, the HTML body reduced to text, and the bulk and list predicates', () => {
    expect(keywords.get(uid.newsletter!)).toEqual(['c-body-html', 'c-bulk', 'c-header', 'c-list']);
  });

  it('matches the plain body and rules scoped to this account and mailbox only', () => {
    expect(keywords.get(uid.plain!)).toEqual(['c-body', 'c-scoped']);
  });

  it('matches auto-replies, attachment size ranges, internal-date age and dates, and flags', () => {
    expect(keywords.get(uid.autoreply!)).toEqual(['c-autoreply']);
    expect(keywords.get(uid.big!)).toEqual(['c-size']);
    expect(keywords.get(uid.old!)).toEqual(['c-age', 'c-date']);
    expect(keywords.get(uid.starred!)).toEqual(['c-flags']);
  });

  it('reports the rules that matched each message', () => {
    const matched = new Map(results.flatMap((r) => r.items.map((i) => [i.uid, i.matched] as const)));
    expect(matched.get(uid.invoice!)).toEqual(['from', 'attachment']);
    expect(matched.get(uid.plain!)).toEqual(['body', 'scoped-here']);
  });
});
