/**
 * Test accounts that log in with OAuth2 on the private Dovecot's `oauth2`
 * instance, with tokens from the OAuth2 server the global setup started
 * (`oauth-server.ts`). Worker side only (it reads `inject('servers')`).
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import type { DovecotInfo } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { oauthControl } from './oauth-server.ts';

/** How a test account logs in: a password, or an OAuth2 token from the global setup's server. */
export type TestAuth = 'login' | 'xoauth2' | 'oauthbearer';

/**
 * Turns a test account into one that logs in with `method` on the `oauth2`
 * Dovecot instance: a fresh client id (so requests are counted per test) and
 * a refresh token granted for the user, in the environment variable the
 * account's `refreshToken` names.
 */
export async function withOAuth2(
  account: AccountConfig,
  info: DovecotInfo,
  method: 'xoauth2' | 'oauthbearer',
  options: { expiresIn?: number } = {},
) {
  const control = oauthControl(inject('servers').oauth);
  const clientId = `client-${randomBytes(6).toString('hex')}`;
  const variable = `POSTROOM_TEST_RT_${clientId.replace(/-/g, '_').toUpperCase()}`;
  process.env[variable] = await control.grant(account.auth.user, clientId, options.expiresIn ?? 3600);
  const ports = info.ports.oauth2;
  if (!ports) throw new Error('the private Dovecot was started without the oauth2 instance');
  const oauthAccount: AccountConfig = {
    ...account,
    port: account.tls === true ? ports.imaps : ports.imap,
    auth: {
      user: account.auth.user,
      method,
      oauth2: { provider: 'custom', clientId, refreshToken: { env: variable }, tokenUrl: control.tokenUrl },
    },
  };
  return { account: oauthAccount, control, clientId, variable };
}
