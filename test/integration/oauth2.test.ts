/**
 * OAuth2 against real parts: the private Dovecot's `oauth2` instance checks
 * bearer tokens with the OAuth2 server the global setup started (its
 * introspection endpoint), and Postroom gets them from that server's token
 * endpoint, through the real composition root and state store.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { forgetOAuth2Tokens } from '#lib/adapters/oauth2-token-source.ts';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { type AccountConfig, configSchema } from '#lib/config/schema.ts';
import { dovecotInfo, freshUser, testAccount } from '../helpers/dovecot.ts';
import { withOAuth2 } from '../helpers/oauth-account.ts';

const info = () => dovecotInfo();
const silent = { debug() {}, info() {}, warn() {}, error() {} };

// Each test is a new process as far as tokens go; a test that wants a warm cache says so.
beforeEach(() => forgetOAuth2Tokens());

/** A runtime over a local store, recording the trace and every secret value it was told. */
async function runtimeFor(account: AccountConfig, dir = mkdtempSync(join(tmpdir(), 'postroom-oauth2-'))) {
  const config = configSchema.parse({ accounts: [], store: { kind: 'local', dir } });
  config.accounts.push(account);
  const traced: string[] = [];
  const secrets: string[] = [];
  const runtime = await openRuntime(config, {
    logger: silent,
    trace: { say: (line) => traced.push(line) },
    onSecret: (value) => secrets.push(value),
    // Every session logs in (no pooled session reused): what is tested is the token per login.
    sessionIdleMs: 0,
  });
  return { runtime, traced, secrets, dir };
}

async function session(runtime: Awaited<ReturnType<typeof runtimeFor>>['runtime'], account: AccountConfig) {
  const server = await runtime.openSession(account);
  const state = await server.examine('INBOX');
  await server.logout();
  return state;
}

async function oauthAccount(
  method: 'xoauth2' | 'oauthbearer',
  options: { expiresIn?: number; tls?: boolean } = {},
) {
  const user = freshUser(info());
  return withOAuth2(testAccount(info(), user, { tls: options.tls ?? true }), info(), method, options);
}

describe('OAuth2 login on Dovecot', () => {
  it.each([
    ['xoauth2', 'XOAUTH2'],
    ['oauthbearer', 'OAUTHBEARER'],
  ] as const)(
    'logs in with %s as AUTHENTICATE %s, and no token reaches the trace',
    async (method, mechanism) => {
      // Prepare
      const { account } = await oauthAccount(method, { tls: false });
      const { runtime, traced, secrets } = await runtimeFor(account);
      // Act
      const state = await session(runtime, account);
      // Assess
      expect(state.uidValidity).toBeGreaterThan(0);
      expect(traced).toContainEqual(
        expect.stringMatching(new RegExp(`^C: \\S+ AUTHENTICATE ${mechanism} \\*\\*\\*$`)),
      );
      expect(secrets.length).toBeGreaterThanOrEqual(2); // the configured refresh token, the access token (and the rotated one)
      const trace = traced.join('\n');
      for (const secret of secrets) {
        expect(trace).not.toContain(secret);
        expect(trace).not.toContain(Buffer.from(`auth=Bearer ${secret}`).toString('base64').slice(4, 30));
      }
    },
  );

  it('refreshes a token that expired between two polls', async () => {
    // Prepare
    const { account, control, clientId } = await oauthAccount('xoauth2', { expiresIn: 2 });
    const { runtime } = await runtimeFor(account);
    await session(runtime, account);
    // Act
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    await session(runtime, account);
    // Assess
    expect(await control.stats(clientId)).toMatchObject({ tokenRequests: 2, refused: 0 });
  });

  it('serves a warm token until the server refuses it, then fetches one new token and logs in', async () => {
    // Prepare
    const { account, control, clientId } = await oauthAccount('oauthbearer');
    const { runtime } = await runtimeFor(account);
    await session(runtime, account);
    await session(runtime, account);
    await control.voidAccessTokens(clientId);
    // Act
    await session(runtime, account);
    // Assess
    expect(await control.stats(clientId)).toMatchObject({ tokenRequests: 2, refused: 0 });
  });

  it('keeps a rotated refresh token in the state store and uses it in the next process', async () => {
    // Prepare: the server voids a refresh token once used, so only the rotated one works again
    const { account, control, clientId } = await oauthAccount('xoauth2');
    const first = await runtimeFor(account);
    await session(first.runtime, account);
    forgetOAuth2Tokens();
    // Act
    const next = await runtimeFor(account, first.dir);
    await session(next.runtime, account);
    // Assess
    expect(await control.stats(clientId)).toMatchObject({ tokenRequests: 2, refused: 0 });
  });

  it('fails with one line naming the account and invalid_grant when the refresh token is revoked', async () => {
    // Prepare
    const { account, control, clientId } = await oauthAccount('xoauth2');
    await control.revoke(clientId);
    const { runtime, traced } = await runtimeFor(account);
    // Act
    const error = await runtime.openSession(account).catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({
      code: 'OAUTH_FAILED',
      retryable: false,
      message: `account test: token endpoint ${control.tokenUrl} refused the refresh token: invalid_grant (Token has been expired or revoked.)`,
    });
    expect(traced).toEqual([]);
  });

  it('makes one token request for two sessions opened at once', async () => {
    // Prepare
    const { account, control, clientId } = await oauthAccount('xoauth2');
    const { runtime } = await runtimeFor(account);
    // Act
    await Promise.all([session(runtime, account), session(runtime, account)]);
    // Assess
    expect(await control.stats(clientId)).toMatchObject({ tokenRequests: 1, refused: 0 });
  });
});
