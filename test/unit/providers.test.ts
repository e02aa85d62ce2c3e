/**
 * Provider quirks without a server: detection from the setting, the
 * capabilities and the host; the classification of Gmail's and Microsoft
 * 365's "not now" answers; the retry loop's backoff and its bounds; the
 * Gmail words of the rule language; and the X-GM-MSGID ingest record.
 */
import { describe, expect, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import { GMAIL_MSGID_SCOPE, recordGmailIngested, skipGmailIngested } from '#lib/core/gmail-dedupe.ts';
import { ImapError } from '#lib/errors.ts';
import { gmailFacts, MAX_LABELS } from '#lib/imap/commands/gmail-labels.ts';
import { commandError, connectError } from '#lib/imap/errors.ts';
import { detectProvider, expectedProvider } from '#lib/imap/provider.ts';
import { suggestedBackoffMs } from '#lib/imap/provider-answers.ts';
import { withTransientRetry } from '#lib/imap/transient-retry.ts';
import type { DeliveryLog, MessageMeta, QueueMessage } from '#lib/ports.ts';
import { type RuleInput, toRuleInput } from '#lib/rules/message.ts';
import { evaluate } from '#lib/rules/planner.ts';
import { type Rule, rulesSchema } from '#lib/rules/schema.ts';

const ctx = { account: 'support', host: 'outlook.office365.com', port: 993 };
const caps = (list: string) => new Set(list.split(' '));

describe('provider detection', () => {
  it('reads Gmail from X-GM-EXT-1 or the host, Microsoft from the host, and obeys an explicit setting', () => {
    // Act + Assert
    expect(detectProvider(undefined, 'mail.example.org', caps('IMAP4rev1 X-GM-EXT-1'))).toBe('gmail');
    expect(detectProvider('auto', 'IMAP.Gmail.com.', caps('IMAP4rev1'))).toBe('gmail');
    expect(detectProvider(undefined, 'outlook.office365.com', caps('IMAP4rev1 MOVE'))).toBe('microsoft');
    expect(detectProvider(undefined, 'imap-mail.outlook.com', caps('IMAP4rev1'))).toBe('microsoft');
    expect(detectProvider(undefined, 'mail.example.org', caps('IMAP4rev1'))).toBe('generic');
    expect(detectProvider('generic', 'imap.gmail.com', caps('X-GM-EXT-1'))).toBe('generic');
    expect(detectProvider('microsoft', '127.0.0.1', caps('IMAP4rev1'))).toBe('microsoft');
    expect(expectedProvider({ host: 'imap.gmail.com' })).toBe('gmail');
  });
});

describe('transient answers', () => {
  it('classifies "User is authenticated but not connected" (ImapFlow: an authentication failure) as SERVER_BUSY', () => {
    // Prepare
    const thrown = Object.assign(new Error('Authentication failed'), {
      authenticationFailed: true,
      response: 'User is authenticated but not connected.',
    });

    // Act
    const error = connectError(thrown, ctx, 'secret-token');

    // Assert
    expect(error.code).toBe('SERVER_BUSY');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(
      /^account support: server outlook.office365.com:993 refused the login for now/,
    );
    expect(error.message).toMatch(/these credentials reach no mailbox/);
  });

  it('classifies throttling and busy answers as SERVER_BUSY, and a refused login as AUTH_FAILED', () => {
    // Prepare
    const login = (responseText: string, extra: Record<string, unknown> = {}) =>
      connectError(
        Object.assign(new Error('x'), { authenticationFailed: true, responseText, ...extra }),
        ctx,
      );

    // Act + Assert
    expect(login('Request is throttled. Suggested Backoff Time: 300 milliseconds').code).toBe('SERVER_BUSY');
    expect(login('Server Unavailable. 15').code).toBe('SERVER_BUSY');
    expect(login('Too many', { serverResponseCode: 'THROTTLED' }).code).toBe('SERVER_BUSY');
    expect(login('[UNAVAILABLE] Temporary System Error').code).toBe('SERVER_BUSY');
    expect(login('LOGIN failed.').code).toBe('AUTH_FAILED');
    expect(login('[AUTHENTICATIONFAILED] Invalid credentials (Failure)').code).toBe('AUTH_FAILED');
  });

  it('makes a throttled command SERVER_BUSY (retryable) and leaves other refusals COMMAND_FAILED', () => {
    // Act
    const busy = commandError({ responseText: 'Server Unavailable. 15' }, 'support', 'EXAMINE "INBOX"');
    const no = commandError({ responseText: 'Unknown Mailbox' }, 'support', 'EXAMINE "Nope"');

    // Assert
    expect(busy).toMatchObject({ code: 'SERVER_BUSY', retryable: true });
    expect(busy.message).toBe(
      'account support: EXAMINE "INBOX" refused for now (too many connections or unavailable): Server Unavailable. 15',
    );
    expect(no).toMatchObject({ code: 'COMMAND_FAILED', retryable: false });
    expect(suggestedBackoffMs('BAD Request is throttled. Suggested Backoff Time: 299961 milliseconds')).toBe(
      299961,
    );
  });
});

describe('withTransientRetry', () => {
  const account = { id: 'support', limits: { sessionSeconds: 60 } } as unknown as AccountConfig;
  const busy = (text = 'server busy') =>
    new ImapError('SERVER_BUSY', `account support: ${text}`, { retryable: true });

  function clock() {
    let now = 1_000_000;
    const waits: number[] = [];
    return {
      now: () => now,
      sleep: async (ms: number) => {
        waits.push(ms);
        now += ms;
      },
      waits,
    };
  }

  it('retries SERVER_BUSY with growing waits until it succeeds', async () => {
    // Prepare
    const time = clock();
    let calls = 0;

    // Act
    const result = await withTransientRetry(
      account,
      async () => {
        calls++;
        if (calls < 4) throw busy();
        return 'session';
      },
      { ...time, baseDelayMs: 100 },
    );

    // Assert
    expect(result).toBe('session');
    expect(calls).toBe(4);
    expect(time.waits).toHaveLength(3);
    time.waits.forEach((wait, index) => {
      expect(wait).toBeGreaterThanOrEqual(50 * 2 ** index);
      expect(wait).toBeLessThanOrEqual(100 * 2 ** index);
    });
  });

  it('does not retry other failures, nor past the deadline, nor a server that asks for minutes', async () => {
    // Prepare
    const auth = new ImapError('AUTH_FAILED', 'account support: authentication failed', { retryable: false });
    const time = clock();
    let calls = 0;
    const failing = (error: Error) => async () => {
      calls++;
      throw error;
    };

    // Act
    const refused = withTransientRetry(account, failing(auth), time);
    await expect(refused).rejects.toBe(auth);
    const refusedCalls = calls;
    calls = 0;
    const late = withTransientRetry(account, failing(busy()), { ...time, deadline: time.now() + 2200 });
    await expect(late).rejects.toMatchObject({ code: 'SERVER_BUSY' });
    const lateCalls = calls;
    calls = 0;
    const minutes = busy('Request is throttled. Suggested Backoff Time: 299961 milliseconds');
    await expect(withTransientRetry(account, failing(minutes), time)).rejects.toBe(minutes);

    // Assert
    expect(refusedCalls).toBe(1);
    expect(lateCalls).toBe(1);
    expect(calls).toBe(1);
  });
});

describe('Gmail in the rule language', () => {
  const rules = (list: unknown[]): Rule[] => rulesSchema.parse(list);
  const gmailInput = (labels: string[]): RuleInput =>
    toRuleInput({ flags: [], size: 10, gmail: { labels } } as Parameters<typeof toRuleInput>[0]);

  it('matches labels case-insensitively and plans label / unlabel before the move', () => {
    // Prepare
    const list = rules([
      {
        name: 'receipts',
        when: { labels: { has: 'receipts', lacks: '\\starred' } },
        then: [{ move: 'Done' }, { label: ['Finance/Receipts', '\\important'] }, { unlabel: 'Receipts' }],
      },
    ]);

    // Act
    const hit = evaluate(gmailInput(['\\Inbox', 'Receipts']), list, { account: 'a', mailbox: 'INBOX' });
    const starred = evaluate(gmailInput(['Receipts', '\\Starred']), list, { account: 'a', mailbox: 'INBOX' });

    // Assert
    expect(hit.actions.map((a) => a.kind)).toEqual(['label', 'unlabel', 'move']);
    expect(hit.actions[0]).toMatchObject({ labels: ['Finance/Receipts', '\\Important'] });
    expect(starred.matched).toEqual([]);
  });

  it('does not decide a labels condition on a message without Gmail facts, and says so', () => {
    // Prepare
    const list = rules([{ name: 'r', when: { labels: { lacks: 'X' } }, then: [{ emit: 'x' }] }]);

    // Act
    const result = evaluate(toRuleInput({ flags: [], size: 1 }), list, { account: 'a', mailbox: 'INBOX' });

    // Assert
    expect(result.matched).toEqual([]);
    expect(result.warnings).toEqual([expect.stringMatching(/rule r: not applied/)]);
  });

  it('refuses an unknown system label and a control character, at their paths', () => {
    // Act
    const result = rulesSchema.safeParse([
      { name: 'a', when: { labels: { has: '\\Nope' } }, then: [{ label: 'ok\r\nA1 LOGOUT' }] },
    ]);

    // Assert
    const problems = result.success
      ? []
      : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems).toEqual([
      expect.stringMatching(/^0\.when\.labels\.has: unknown system label \\Nope/),
      expect.stringMatching(/^0\.then\.0\.label: a label may not contain control characters/),
    ]);
  });
});

describe('Gmail facts from a FETCH', () => {
  it('keeps decimal ids only and a bounded list of labels, whatever the server sends', () => {
    // Prepare
    const many = new Set(Array.from({ length: MAX_LABELS + 100 }, (_, i) => `L${i}`));
    many.add('x'.repeat(5000));

    // Act
    const facts = gmailFacts({ emailId: '1650000000000000001', threadId: 'abc', labels: many });
    const none = gmailFacts({ emailId: '12; DROP' });

    // Assert
    expect(facts).toMatchObject({ msgId: '1650000000000000001' });
    expect(facts?.threadId).toBeUndefined();
    expect(facts?.labels).toHaveLength(MAX_LABELS);
    expect(facts?.labels.every((label) => label.length < 1000)).toBe(true);
    expect(none).toBeUndefined();
  });
});

describe('the X-GM-MSGID ingest record', () => {
  function memoryLog(): DeliveryLog & { scopes: Set<string> } {
    const rows = new Set<string>();
    const scopes = new Set<string>();
    return {
      scopes,
      findDelivered: async (account, mailbox, list) =>
        new Set(list.filter((f) => rows.has(`${account}|${mailbox}|${f}`))),
      record: async (account, mailbox, list) => {
        scopes.add(mailbox);
        for (const f of list) rows.add(`${account}|${mailbox}|${f}`);
      },
    };
  }
  const meta = (uid: number, msgId?: string): MessageMeta => ({
    uid,
    size: 1,
    internalDate: new Date(0),
    flags: [],
    ...(msgId ? { gmail: { msgId, labels: [] } } : {}),
  });

  it('skips ids recorded for the account, and a repeat within a batch, but keeps messages without one', async () => {
    // Prepare
    const log = memoryLog();
    await recordGmailIngested(log, 'a', [{ gmail: { msgId: '11', labels: [] } } as unknown as QueueMessage]);

    // Act
    const kept = await skipGmailIngested(log, 'a', [meta(1, '11'), meta(2, '12'), meta(3, '12'), meta(4)]);
    const otherAccount = await skipGmailIngested(log, 'b', [meta(1, '11')]);

    // Assert
    expect(kept.map((m) => m.uid)).toEqual([2, 4]);
    expect(otherAccount).toHaveLength(1);
    expect([...log.scopes]).toEqual([GMAIL_MSGID_SCOPE]);
  });
});
