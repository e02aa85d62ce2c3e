import { describe, expect, it } from 'vitest';
import { configSchema } from '#lib/config/schema.ts';
import { configWarnings } from '#lib/config/warnings.ts';
import { dryRunRaw } from '#lib/core/dry-run.ts';
import {
  parseAuthenticationResults,
  trustedAuthResults,
  verdictsFromHeaders,
} from '#lib/mime/auth-results.ts';
import { spamVerdict } from '#lib/mime/spam.ts';
import { verifySender } from '#lib/mime/verify-auth.ts';
import { matchCondition } from '#lib/rules/matcher.ts';
import { parseMessage, toRuleInput } from '#lib/rules/message.ts';
import { acmeInvoice } from '../fixtures/machine-mail.ts';
import { ACME_DNS, ACME_IP, signedInvoice as signed } from '../fixtures/signed-mail.ts';
import { fakeDns } from '../helpers/fake-dns.ts';

const signedInvoice = (ip: string, tamper = false) => signed(1, ip, { tamper });

describe('verifyAuth: DKIM, SPF, DMARC through an injected resolver', () => {
  it('passes a signed message from the domain sender IP, and the auth conditions hold', async () => {
    // Prepare
    const raw = await signedInvoice(ACME_IP);
    const dns = fakeDns(ACME_DNS);

    // Act
    const verdicts = await verifySender(raw, { resolver: dns });

    // Assess
    expect(verdicts).toMatchObject({
      source: 'verified',
      dkim: [{ result: 'pass', domain: 'acme.example', selector: 's1' }],
      spf: { result: 'pass', domain: 'acme.example' },
      dmarc: { result: 'pass', domain: 'acme.example' },
    });
    expect(dns.asked).toContain('TXT s1._domainkey.acme.example');
    const input = { ...toRuleInput(undefined, await parseMessage(raw)), auth: verdicts };
    expect(matchCondition({ auth: { dkim: { result: 'pass', domain: 'acme.example' } } }, input)).toBe(true);
    expect(matchCondition({ auth: { dkim: { domain: 'other.example' } } }, input)).toBe(false);
    expect(matchCondition({ auth: { dmarc: 'pass', spf: 'pass' } }, input)).toBe(true);
  });

  it('fails SPF for another IP (DMARC still passes on the aligned signature) and DKIM for a changed body', async () => {
    const elsewhere = await verifySender(await signedInvoice('203.0.113.9'), { resolver: fakeDns(ACME_DNS) });
    expect(elsewhere.spf).toEqual({ result: 'fail', domain: 'acme.example' });
    expect(elsewhere.dkim[0]!.result).toBe('pass');
    expect(elsewhere.dmarc.result).toBe('pass');

    const tampered = await verifySender(await signedInvoice('203.0.113.9', true), {
      resolver: fakeDns(ACME_DNS),
    });
    expect(['fail', 'neutral']).toContain(tampered.dkim[0]!.result); // mailauth: body hash did not verify
    expect(tampered.spf.result).toBe('fail');
    expect(tampered.dmarc.result).toBe('fail');
  });

  it('answers temperror, not an exception, when DNS never answers', async () => {
    const never = () => new Promise<never>(() => undefined);
    const verdicts = await verifySender(await signedInvoice(ACME_IP), {
      resolver: never,
      lookupTimeoutMs: 50,
      timeoutMs: 2000,
    });
    expect(verdicts.dkim.every((d) => d.result !== 'pass')).toBe(true);
    expect(verdicts.dmarc.result).not.toBe('pass');
  });
});

describe('Authentication-Results (RFC 8601)', () => {
  it('parses methods, properties, comments and quoted values', () => {
    expect(
      parseAuthenticationResults(
        'MX.Postroom.Test 1; (a comment; with ;) dkim=pass (good signature) header.d=acme.example header.s="s1";\r\n spf=softfail smtp.mailfrom=billing@acme.example reason="not quite; really"; dmarc=pass header.from=acme.example',
      ),
    ).toEqual({
      authservId: 'mx.postroom.test',
      results: [
        { method: 'dkim', result: 'pass', properties: { 'header.d': 'acme.example', 'header.s': 's1' } },
        {
          method: 'spf',
          result: 'softfail',
          properties: { 'smtp.mailfrom': 'billing@acme.example', reason: 'not quite; really' },
        },
        { method: 'dmarc', result: 'pass', properties: { 'header.from': 'acme.example' } },
      ],
    });
    expect(parseAuthenticationResults('mx.postroom.test; none')).toEqual({
      authservId: 'mx.postroom.test',
      results: [],
    });
  });

  it('trusts the topmost headers of the configured authserv-id only; a forged one from elsewhere or below is ignored', () => {
    const headers = [
      { name: 'authentication-results', value: 'mx.postroom.test; spf=pass smtp.mailfrom=acme.example' },
      { name: 'authentication-results', value: 'mx.postroom.test; dkim=pass header.d=acme.example' },
      { name: 'received', value: 'from evil.example by mx.postroom.test' },
      { name: 'authentication-results', value: 'mx.postroom.test; dmarc=pass header.from=acme.example' },
      { name: 'authentication-results', value: 'evil.example; dmarc=pass header.from=acme.example' },
    ];
    expect(trustedAuthResults(headers, ['MX.postroom.test']).map((h) => h.results[0]!.method)).toEqual([
      'spf',
      'dkim',
    ]);
    expect(verdictsFromHeaders(headers, ['mx.postroom.test']).dmarc).toEqual({ result: 'none' });
    expect(verdictsFromHeaders(headers.slice(4), ['mx.postroom.test']).source).toBe('none');
    expect(verdictsFromHeaders(headers.slice(4), ['evil.example']).dmarc.result).toBe('pass');
  });

  it('the auth condition is false without a trusted verdict, unknown without headers', () => {
    const input = { from: [], to: [], cc: [], warnings: [], headers: [] };
    expect(matchCondition({ auth: { dmarc: 'pass' } }, input)).toBe(false);
    expect(matchCondition({ not: { auth: { dmarc: 'pass' } } }, input)).toBe(true);
    expect(
      matchCondition({ auth: { dmarc: 'pass' } }, { from: [], to: [], cc: [], warnings: [] }),
    ).toBeUndefined();
  });
});

describe('spam verdicts', () => {
  it('reads SpamAssassin and score headers, topmost first, as the spam condition sees them', () => {
    const headers = [
      {
        name: 'x-spam-status',
        value: 'Yes, score=7.4 required=5.0 tests=BAYES_99, URIBL_BLACK autolearn=no',
      },
      { name: 'x-spam-status', value: 'No, score=-100 required=5.0' },
    ];
    expect(spamVerdict(headers)).toEqual({
      flagged: true,
      score: 7.4,
      threshold: 5,
      tests: ['BAYES_99', 'URIBL_BLACK'],
    });
    expect(spamVerdict([{ name: 'x-spam-score', value: '3.1' }])).toEqual({ score: 3.1 });
    const input = { from: [], to: [], cc: [], warnings: [], headers };
    expect(matchCondition({ spam: { score: { over: 5 } } }, input)).toBe(true);
    expect(matchCondition({ spam: { score: { under: 5 } } }, input)).toBe(false);
    expect(matchCondition({ spam: { flagged: true } }, input)).toBe(true);
    expect(matchCondition({ spam: { score: { over: 5 } } }, { ...input, headers: [] })).toBe(false);
  });
});

describe('postroom validate: auth without a trusted source', () => {
  const base = {
    id: 'finance',
    host: 'imap.example.com',
    auth: { user: 'finance@example.com', password: { env: 'HOME' } },
  };
  const rules = [{ name: 'verified', when: { auth: { dmarc: 'pass' } }, then: [{ flag: 'verified' }] }];

  it('warns when rules test auth on an account with neither authservId nor verifyAuth', () => {
    const config = configSchema.parse({ accounts: [base], rules });
    expect(configWarnings(config, { HOME: '/' })).toEqual([
      expect.stringMatching(
        /^accounts\[0\]: rules test auth, but the account has neither authservId nor verifyAuth/,
      ),
    ]);
    for (const settings of [{ authservId: 'mx.example.com' }, { verifyAuth: true }]) {
      const ok = configSchema.parse({ accounts: [{ ...base, ...settings }], rules });
      expect(configWarnings(ok, { HOME: '/' })).toEqual([]);
    }
  });
});

describe('dry-run: auth from the account authserv-id', () => {
  it('fires an auth rule on a trusted header only', async () => {
    const rules = configSchema.parse({
      rules: [{ name: 'verified', when: { auth: { dmarc: 'pass' } }, then: [{ flag: 'verified' }] }],
    }).rules;
    const header = (id: string) => [`Authentication-Results: ${id}; dmarc=pass header.from=acme.example`];
    const scope = { account: 'finance', mailbox: 'INBOX', authservIds: ['mx.postroom.test'] };
    expect((await dryRunRaw(rules, acmeInvoice(1, header('mx.postroom.test')), scope)).rules).toEqual([
      'verified',
    ]);
    expect((await dryRunRaw(rules, acmeInvoice(2, header('mx.evil.example')), scope)).rules).toEqual([]);
  });
});
