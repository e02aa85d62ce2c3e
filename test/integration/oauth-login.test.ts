/**
 * `postroom oauth login` as a user runs it, against the OAuth2 server the
 * global setup started: the test plays the browser (it follows the printed
 * URL to the authorization endpoint, which signs the user in and redirects to
 * the CLI's loopback callback), the CLI exchanges the code with its PKCE
 * verifier and keeps the refresh token in the state store, and `postroom
 * poll` then logs in to the private Dovecot's oauth2 instance with it.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import { textMessage } from '../fixtures/messages.ts';
import { killAllPostroom, runPostroom, spawnPostroom, writeConfigFile } from '../helpers/cli.ts';
import { appendMessages, dovecotInfo, freshUser, testAccount, withSetupClient } from '../helpers/dovecot.ts';
import { oauthControl } from '../helpers/oauth-server.ts';

afterEach(() => killAllPostroom());

/** An account on the oauth2 Dovecot instance with no refresh token configured: login is to get one. */
function loginAccount() {
  const info = dovecotInfo();
  const user = freshUser(info);
  const control = oauthControl(inject('servers').oauth);
  const clientId = `login-${randomBytes(6).toString('hex')}`;
  const base = testAccount(info, user, { tls: false });
  const account: AccountConfig = {
    ...base,
    port: info.ports.oauth2!.imap,
    auth: {
      user: user.user,
      method: 'xoauth2',
      oauth2: {
        provider: 'custom',
        clientId,
        tokenUrl: control.tokenUrl,
        authorizeUrl: control.authorizeUrl,
      },
    },
  };
  return { account, user, control, clientId };
}

/** `postroom oauth login` for the test account of `file`. */
const loginArgs = (file: string, ...extra: string[]) => [
  'oauth',
  'login',
  '--config',
  file,
  '--account',
  'test',
  ...extra,
];

const URL_LINE = /open this URL in a browser and sign in as \S+:\n {2}(\S+)\n/;

describe('postroom oauth login', () => {
  it('gets a refresh token with PKCE through a loopback redirect, keeps it, and a poll logs in with it', async () => {
    // Prepare
    const { account, user, control, clientId } = loginAccount();
    await withSetupClient(dovecotInfo(), user, (c) =>
      appendMessages(
        c,
        'INBOX',
        [1, 2].map((n) => textMessage(n, { namespace: user.user })),
      ),
    );
    const config = writeConfigFile({ accounts: [account] });
    const before = await runPostroom(['validate', '--config', config.file]);
    const login = spawnPostroom(loginArgs(config.file, '--timeout', '60'));
    await login.waitForStderr(URL_LINE, 30_000);
    const authorizeUrl = new URL(URL_LINE.exec(login.stderr())![1]!);

    // Act: the browser's part
    const strayCallback = new URL(authorizeUrl.searchParams.get('redirect_uri')!);
    strayCallback.searchParams.set('state', 'not-this-flow');
    strayCallback.searchParams.set('code', 'forged');
    const stray = await fetch(strayCallback);
    const consent = await fetch(authorizeUrl, { redirect: 'manual' });
    const back = await fetch(consent.headers.get('location')!);
    const result = await login.exited;
    const poll = await runPostroom(['poll', '--config', config.file, '--json']);
    const after = await runPostroom(['validate', '--config', config.file]);

    // Assess
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizeUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorizeUrl.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(stray.status).toBe(400);
    expect(consent.status).toBe(302);
    expect(back.status).toBe(200);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      `refresh token for account test kept in the state store (${config.storeDir}/postroom.db)\n`,
    );
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/\brt-[A-Za-z0-9_-]{10,}|\bat-[A-Za-z0-9_-]{10,}/);
    expect(poll.code, poll.stderr).toBe(0);
    expect(JSON.parse(poll.stdout)).toMatchObject({ fetched: 2 });
    // One code exchange, then the poll's refresh of the kept token: nothing refused.
    expect(await control.stats(clientId)).toMatchObject({ tokenRequests: 2, refused: 0 });
    expect(before.stderr).toContain(
      'warning: accounts[0].auth.oauth2.refreshToken: not set, and the state store keeps none for account test: run postroom oauth login --account test (or set refreshToken)',
    );
    expect(after.stderr).not.toContain('refreshToken');
  });

  it('gives up after --timeout with one line naming the account', async () => {
    // Prepare
    const { account } = loginAccount();
    const config = writeConfigFile({ accounts: [account] });

    // Act
    const result = await runPostroom(loginArgs(config.file, '--timeout', '1'));

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: account test: no sign-in came back within 1 s (--timeout)');
  });

  it('refuses a refresh token it cannot write, before printing any URL', async () => {
    // Prepare
    const { account } = loginAccount();
    const withEnv = {
      ...account,
      auth: { ...account.auth, oauth2: { ...account.auth.oauth2!, refreshToken: { env: 'RT' } } },
    };
    const config = writeConfigFile({ accounts: [withEnv] });

    // Act
    const result = await runPostroom(loginArgs(config.file));

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'accounts[0].auth.oauth2.refreshToken: { env: RT } cannot be written by postroom oauth login: remove refreshToken to keep the token in the local state store, or use { secret: NAME } (AWS Secrets Manager)',
    );
    expect(result.stderr).not.toContain('open this URL');
  });

  it('fails a poll with a line saying to run oauth login when no token is kept', async () => {
    // Prepare
    const { account } = loginAccount();
    const config = writeConfigFile({ accounts: [account] });

    // Act
    const poll = await runPostroom(['poll', '--config', config.file]);

    // Assess
    expect(poll.code).toBe(1);
    expect(poll.stderr).toContain(
      'account test: no refresh token: run postroom oauth login --account test, or set auth.oauth2.refreshToken',
    );
  });
});
