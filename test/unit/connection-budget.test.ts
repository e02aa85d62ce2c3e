/**
 * Which budget an account shares and how large it is: the provider defaults
 * (by host, or by the OAuth2 preset), `maxConnections` over them, and the
 * process function's concurrency that fits the smallest budget.
 */
import { describe, expect, it } from 'vitest';
import { connectionBudget, processorConcurrency } from '#lib/config/connection-budget.ts';
import type { AccountConfig } from '#lib/config/schema.ts';

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
