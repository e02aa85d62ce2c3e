/**
 * The authorization-code flow of `postroom oauth login` against the local
 * OAuth2 server, with the test as the browser: what the authorization request
 * carries, and how a refused sign-in or code ends (one line naming the
 * account and the answer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationCodeLogin } from '#lib/adapters/oauth2-authorization.ts';
import { parseConfig } from '#lib/config/load.ts';
import { type OAuthServer, oauthControl, startOAuthServer } from '../helpers/oauth-server.ts';

let server: OAuthServer;
beforeAll(async () => {
  server = await startOAuthServer();
});
afterAll(() => server.stop());

const accountFor = (oauth2: string) =>
  parseConfig(
    `accounts:\n  - id: support\n    host: imap.gmail.com\n    auth: { user: support@example.com, method: xoauth2, oauth2: ${oauth2} }\n`,
  ).accounts[0]!;

/** Starts the flow; resolves with the URL it printed and the flow's outcome. */
async function start(oauth2: string, timeoutMs = 10_000) {
  let printed: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => {
    printed = resolve;
  });
  const outcome = authorizationCodeLogin({
    account: accountFor(oauth2),
    timeoutMs,
    onAuthorizeUrl: (authorize) => printed(authorize),
  }).catch((error: unknown) => error as Error);
  return { url: new URL(await url), outcome };
}

const custom = () => {
  const control = oauthControl(server.url);
  return `{ provider: custom, clientId: c1, tokenUrl: "${control.tokenUrl}", authorizeUrl: "${control.authorizeUrl}" }`;
};

describe('the authorization-code flow', () => {
  it("asks Google for offline access with PKCE S256, the mailbox as login hint, and Gmail's scope", async () => {
    // Act
    const { url, outcome } = await start('{ provider: google, clientId: 1234.apps.googleusercontent.com }');
    const callback = new URL(url.searchParams.get('redirect_uri')!);
    callback.searchParams.set('state', url.searchParams.get('state')!);
    callback.searchParams.set('error', 'access_denied');
    await fetch(callback);

    // Assess
    expect(`${url.origin}${url.pathname}`).toBe('https://accounts.google.com/o/oauth2/v2/auth');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: '1234.apps.googleusercontent.com',
      scope: 'https://mail.google.com/',
      code_challenge_method: 'S256',
      login_hint: 'support@example.com',
      access_type: 'offline',
      prompt: 'consent',
    });
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(((await outcome) as Error).message).toBe(
      'account support: the authorization server answered access_denied',
    );
  });

  it("uses the Microsoft tenant's endpoint and the delegated scope with offline_access", async () => {
    const { url, outcome } = await start(
      '{ provider: microsoft, tenant: contoso.onmicrosoft.com, clientId: 00000000-0000-0000-0000-000000000000 }',
      1000,
    );
    expect(`${url.origin}${url.pathname}`).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
    );
    expect(url.searchParams.get('scope')).toBe(
      'https://outlook.office.com/IMAP.AccessAsUser.All offline_access',
    );
    expect(((await outcome) as Error).message).toBe(
      'account support: no sign-in came back within 1 s (--timeout)',
    );
  });

  it('reports a code the token endpoint refuses with its answer', async () => {
    // Act: a code the server never issued, with the right state
    const { url, outcome } = await start(custom());
    const callback = new URL(url.searchParams.get('redirect_uri')!);
    callback.searchParams.set('state', url.searchParams.get('state')!);
    callback.searchParams.set('code', 'code-never-issued');
    const page = await fetch(callback);

    // Assess
    expect(page.status).toBe(200);
    expect(((await outcome) as Error).message).toBe(
      `account support: token endpoint ${server.url}/token refused the authorization code: invalid_grant (Bad authorization code.)`,
    );
  });

  it('returns the refresh token after a consent, ignoring answers with another state', async () => {
    // Act
    const { url, outcome } = await start(custom());
    const stray = new URL(url.searchParams.get('redirect_uri')!);
    stray.searchParams.set('state', 'other');
    stray.searchParams.set('error', 'access_denied');
    const strayPage = await fetch(stray);
    const consent = await fetch(url, { redirect: 'manual' });
    await fetch(consent.headers.get('location')!);

    // Assess
    expect(strayPage.status).toBe(400);
    expect(await outcome).toEqual({ refreshToken: expect.stringMatching(/^rt-/) });
  });

  it('needs authorizeUrl for a custom provider', async () => {
    const error = await authorizationCodeLogin({
      account: accountFor(`{ provider: custom, clientId: c1, tokenUrl: "${server.url}/token" }`),
      timeoutMs: 1000,
      onAuthorizeUrl: () => {},
    }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe(
      'account support: auth.oauth2.authorizeUrl is needed for provider custom (the authorization endpoint)',
    );
  });
});
