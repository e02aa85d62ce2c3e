/**
 * The token source against a scripted token endpoint (an injected `fetch`):
 * caching until shortly before expiry, one request in flight per account,
 * rotation kept, and one-line refusals. The real HTTP path, against a real
 * Dovecot, is `test/integration/oauth2.test.ts`.
 */
import { generateKeyPairSync, verify } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createOAuth2TokenSource, forgetOAuth2Tokens } from '#lib/adapters/oauth2-token-source.ts';
import { parseConfig } from '#lib/config/load.ts';
import type { AccountConfig, SecretRef } from '#lib/config/schema.ts';
import type { RefreshTokenStore } from '#lib/ports.ts';

beforeEach(() => forgetOAuth2Tokens());

function accountWith(oauth2: string): AccountConfig {
  return parseConfig(
    `accounts:\n  - id: support\n    host: imap.example.com\n    auth: { user: support@example.com, method: xoauth2, oauth2: ${oauth2} }\n`,
  ).accounts[0]!;
}

const google = accountWith(
  '{ provider: google, clientId: cid, clientSecret: { env: CS }, refreshToken: { env: RT } }',
);
const secrets: Record<string, string> = { CS: 'client-secret-value', RT: 'configured-refresh', KEY: '' };
const resolveSecret = async (ref: SecretRef) => secrets['env' in ref ? ref.env : ref.secret]!;

interface Call {
  url: string;
  form: URLSearchParams;
}

/** A token endpoint that answers each request with the next scripted answer. */
function endpoint(answers: { status?: number; body: unknown; delayMs?: number }[]) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: string, init: RequestInit) => {
    calls.push({ url, form: new URLSearchParams(String(init.body)) });
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    return new Response(JSON.stringify(answer.body), { status: answer.status ?? 200 });
  }) as typeof fetch;
  return { calls, fetchImpl };
}

function memoryStore(): RefreshTokenStore & { kept: Map<string, string> } {
  const kept = new Map<string, string>();
  return {
    kept,
    current: async (account, configured) => kept.get(`${account.id}:${configured}`) ?? configured,
    rotate: async (account, configured, next) => {
      kept.set(`${account.id}:${configured}`, next);
    },
  };
}

describe('OAuth2 token source', () => {
  it('posts the refresh grant with the preset scope and serves the token from cache until shortly before expiry', async () => {
    const { calls, fetchImpl } = endpoint([
      { body: { access_token: 'at-1', expires_in: 100 } },
      { body: { access_token: 'at-2', expires_in: 100 } },
    ]);
    let now = 1_000_000;
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl, now: () => now });

    const first = await source.accessToken(google);
    now += 70_000;
    const cached = await source.accessToken(google);
    now += 20_000; // 10 s before expiry: within the margin (a quarter of 100 s)
    const renewed = await source.accessToken(google);

    expect([first, cached, renewed]).toEqual([
      { value: 'at-1', fresh: true },
      { value: 'at-1', fresh: false },
      { value: 'at-2', fresh: true },
    ]);
    expect(calls[0]!.url).toBe('https://oauth2.googleapis.com/token');
    expect(Object.fromEntries(calls[0]!.form)).toEqual({
      grant_type: 'refresh_token',
      client_id: 'cid',
      client_secret: 'client-secret-value',
      refresh_token: 'configured-refresh',
      scope: 'https://mail.google.com/',
    });
  });

  it('makes one request for concurrent callers of one account', async () => {
    const { calls, fetchImpl } = endpoint([
      { body: { access_token: 'at-1', expires_in: 3600 }, delayMs: 30 },
    ]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl });

    const tokens = await Promise.all([source.accessToken(google), source.accessToken(google)]);

    expect(tokens.map((t) => t.value)).toEqual(['at-1', 'at-1']);
    expect(calls).toHaveLength(1);
  });

  it('keeps a rotated refresh token and uses it from then on, also in a new process', async () => {
    const { calls, fetchImpl } = endpoint([
      { body: { access_token: 'at-1', expires_in: 1, refresh_token: 'rotated-1' } },
      { body: { access_token: 'at-2', expires_in: 1, refresh_token: 'rotated-2' } },
    ]);
    const store = memoryStore();
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl, refreshTokens: store });

    await source.accessToken(google);
    forgetOAuth2Tokens(); // a new process: only the store remembers
    await source.accessToken(google);

    expect(calls.map((c) => c.form.get('refresh_token'))).toEqual(['configured-refresh', 'rotated-1']);
    expect([...store.kept.values()]).toEqual(['rotated-2']);
  });

  it('does not serve a token the server refused', async () => {
    const { fetchImpl } = endpoint([
      { body: { access_token: 'at-1', expires_in: 3600 } },
      { body: { access_token: 'at-2', expires_in: 3600 } },
    ]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl });

    const first = await source.accessToken(google);
    const next = await source.accessToken(google, { rejected: first.value });

    expect(next).toEqual({ value: 'at-2', fresh: true });
  });

  it.each([
    {
      answer: {
        status: 400,
        body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
      },
      code: 'OAUTH_FAILED',
      message:
        'account support: token endpoint https://oauth2.googleapis.com/token refused the refresh token: invalid_grant (Token has been expired or revoked.)',
    },
    {
      answer: {
        status: 400,
        body: {
          error: 'invalid_grant',
          error_description:
            "AADSTS65001: The user or administrator has not consented to use the application with ID 'cid'.\r\nTrace ID: 1 Correlation ID: 2 Timestamp: 3",
        },
      },
      code: 'OAUTH_FAILED',
      message:
        "account support: token endpoint https://oauth2.googleapis.com/token refused the refresh token: invalid_grant (AADSTS65001: The user or administrator has not consented to use the application with ID 'cid'.)",
    },
    {
      answer: { status: 503, body: 'busy' },
      code: 'OAUTH_UNAVAILABLE',
      message:
        'account support: token endpoint https://oauth2.googleapis.com/token refused the refresh token: HTTP 503',
    },
  ])('fails with one line naming the account and the answer: $code', async ({ answer, code, message }) => {
    const { fetchImpl } = endpoint([answer]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl });

    const error = await source.accessToken(google).catch((e: unknown) => e);

    expect(error).toMatchObject({ code, message });
  });

  it('never puts a secret into the error, even when the endpoint echoes it', async () => {
    const { fetchImpl } = endpoint([
      { status: 401, body: { error: 'invalid_client', error_description: 'bad client-secret-value' } },
    ]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl });

    const error = (await source.accessToken(google).catch((e: unknown) => e)) as Error;

    expect(error.message).not.toContain('client-secret-value');
    expect(error.message).toContain('invalid_client (bad ***)');
  });

  it('asks Microsoft for an app-only token with the client credentials', async () => {
    const { calls, fetchImpl } = endpoint([{ body: { access_token: 'at', expires_in: 3600 } }]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl });
    const app = accountWith(
      '{ provider: microsoft, grant: client_credentials, tenant: contoso.onmicrosoft.com, clientId: cid, clientSecret: { env: CS } }',
    );

    await source.accessToken(app);

    expect(calls[0]!.url).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
    expect(Object.fromEntries(calls[0]!.form)).toEqual({
      grant_type: 'client_credentials',
      client_id: 'cid',
      client_secret: 'client-secret-value',
      scope: 'https://outlook.office365.com/.default',
    });
  });

  it('signs an RS256 assertion for a Google service account, acting for the mailbox user', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    secrets.KEY = JSON.stringify({
      client_email: 'postroom@project.iam.gserviceaccount.com',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    });
    const { calls, fetchImpl } = endpoint([{ body: { access_token: 'at', expires_in: 3600 } }]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl, now: () => 1_700_000_000_000 });

    await source.accessToken(
      accountWith('{ provider: google, grant: jwt_bearer, serviceAccountKey: { env: KEY } }'),
    );

    const form = calls[0]!.form;
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const [header, claims, signature] = form.get('assertion')!.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toEqual({
      iss: 'postroom@project.iam.gserviceaccount.com',
      sub: 'support@example.com',
      aud: 'https://oauth2.googleapis.com/token',
      scope: 'https://mail.google.com/',
      iat: 1_700_000_000,
      exp: 1_700_003_600,
    });
    expect(
      verify(
        'RSA-SHA256',
        Buffer.from(`${header}.${claims}`),
        publicKey,
        Buffer.from(signature!, 'base64url'),
      ),
    ).toBe(true);
  });

  it('fails with one line when the service account key cannot sign', async () => {
    secrets.KEY = JSON.stringify({ client_email: 'sa@p.iam.gserviceaccount.com', private_key: 'not a key' });
    const { calls, fetchImpl } = endpoint([{ body: { access_token: 'at', expires_in: 3600 } }]);
    const source = createOAuth2TokenSource({ resolveSecret, fetch: fetchImpl });

    const error = await source
      .accessToken(accountWith('{ provider: google, grant: jwt_bearer, serviceAccountKey: { env: KEY } }'))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'OAUTH_FAILED' });
    expect((error as Error).message).toMatch(
      /^account support: cannot sign with the serviceAccountKey's private_key: /,
    );
    expect(calls).toHaveLength(0);
  });
});
