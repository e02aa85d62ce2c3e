/**
 * Which budget an account shares and how large it is: the provider defaults
 * (by host, or by the OAuth2 preset), `maxConnections` over them, and the
 * process function's concurrency that fits the smallest budget.
 */
import { describe, expect, it } from 'vitest';
import {
  budgetHeldByConcurrency,
  connectionBudget,
  processorConcurrency,
} from '#lib/config/connection-budget.ts';
import type { AccountConfig } from '#lib/config/schema.ts';
import { validateConfig } from '#lib/config/validate.ts';

type BudgetInput = Pick<AccountConfig, 'host' | 'auth' | 'maxConnections'>;

const account = (host: string, extra: Partial<BudgetInput> = {}): BudgetInput => ({
  host,
  auth: { user: 'Support@Example.com', method: 'login' },
  ...extra,
});

describe('connectionBudget', () => {
  it.each([
    ['imap.gmail.com', 10],
    ['imap.googlemail.com', 10],
    ['outlook.office365.com', 8],
    ['imap-mail.outlook.com', 8],
    ['mail.example.net', 5],
  ])('defaults to a limit safely under the provider for %s', (host, limit) => {
    expect(connectionBudget(account(host)).limit).toBe(limit);
  });

  it('knows the provider from the OAuth2 preset when the host is the customer’s own name', () => {
    const viaPreset = account('imap.mail.contoso.com', {
      auth: { user: 'u', method: 'xoauth2', oauth2: { provider: 'microsoft' } },
    });
    expect(connectionBudget(viaPreset).limit).toBe(8);
  });

  it('takes maxConnections over the default, and names the budget by user and host in lower case', () => {
    const budget = connectionBudget(account('IMAP.Gmail.com', { maxConnections: 3 }));
    expect(budget).toEqual({ key: 'support@example.com@imap.gmail.com', limit: 3 });
  });
});

describe('processorConcurrency', () => {
  it('leaves one slot of the smallest budget for the poller, and never goes below SQS’s minimum of 2', () => {
    const accounts = [account('imap.gmail.com'), account('mail.example.net', { maxConnections: 4 })];
    expect(processorConcurrency(accounts, 10)).toBe(3);
    expect(processorConcurrency(accounts, 2)).toBe(2);
    expect(processorConcurrency([account('mail.example.net', { maxConnections: 1 })], 5)).toBe(2);
    expect(processorConcurrency([], 7)).toBe(7);
  });
});

describe('budgetHeldByConcurrency', () => {
  it('holds when every budget has room for its accounts’ pollers and every processor', () => {
    expect(budgetHeldByConcurrency([account('mail.example.net')], 4)).toBe(true);
    expect(budgetHeldByConcurrency([account('mail.example.net')], 5)).toBe(false);
    // Two accounts for one mailbox (same user and host) share its budget: two pollers.
    const twice = [account('mail.example.net'), account('MAIL.example.net')];
    expect(budgetHeldByConcurrency(twice, 3)).toBe(true);
    expect(budgetHeldByConcurrency(twice, 4)).toBe(false);
    expect(budgetHeldByConcurrency([account('mail.example.net', { maxConnections: 2 })], 2)).toBe(false);
  });
});

describe('a budget that cannot work', () => {
  const config = (account: Record<string, unknown>) => ({
    accounts: [
      { id: 'a', host: 'mail.example.net', auth: { user: 'u', password: { env: 'P' } }, ...account },
    ],
  });

  it('is refused by path when the IDLE watches would take every connection', () => {
    const error = (() => {
      try {
        validateConfig(
          config({
            maxConnections: 2,
            mailboxes: [
              { name: 'INBOX', idle: true },
              { name: 'Support', idle: true },
            ],
          }),
        );
      } catch (e) {
        return e as { problems?: string[] };
      }
      return undefined;
    })();
    expect(error?.problems).toEqual([
      'accounts[0].maxConnections: expected at least 3: each of the 2 mailbox(es) watched with IDLE holds a connection, and polling and processing need one more (or fewer mailboxes with idle: true)',
    ]);
  });

  it('is accepted with one connection to spare beside the watches', () => {
    expect(() => validateConfig(config({ maxConnections: 2, idle: true }))).not.toThrow();
  });
});
