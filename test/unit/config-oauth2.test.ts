import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { oauth2Settings } from '#lib/config/oauth2.ts';
import { ConfigError } from '#lib/errors.ts';

function problemsOf(auth: string): string[] {
  try {
    parseConfig(`accounts:\n  - id: support\n    host: imap.example.com\n    auth: ${auth}\n`);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

function authOf(auth: string) {
  return parseConfig(`accounts:\n  - id: support\n    host: imap.example.com\n    auth: ${auth}\n`)
    .accounts[0]!.auth;
}

const settingsOf = (auth: string) => oauth2Settings(authOf(auth).oauth2!);

describe('config: OAuth2 auth', () => {
  it('accepts the Google refresh-token shape from issue 13 without a password', () => {
    const auth = authOf(
      '{ user: support@example.com, method: xoauth2, oauth2: { provider: google, grant: refresh_token, clientId: 1234.apps.googleusercontent.com, clientSecret: { secret: postroom/google-client-secret }, refreshToken: { secret: postroom/support-refresh-token } } }',
    );
    expect(auth.password).toBeUndefined();
    expect(oauth2Settings(auth.oauth2!)).toEqual({
      grant: 'refresh_token',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      scope: 'https://mail.google.com/',
    });
  });

  it.each([
    {
      preset: 'Microsoft delegated, with the tenant in the token endpoint',
      auth: '{ user: u, method: xoauth2, oauth2: { provider: microsoft, tenant: contoso.onmicrosoft.com, clientId: c, refreshToken: { env: RT } } }',
      tokenUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      scope: 'https://outlook.office.com/IMAP.AccessAsUser.All offline_access',
    },
    {
      preset: 'Microsoft app-only',
      auth: '{ user: u, method: xoauth2, oauth2: { provider: microsoft, grant: client_credentials, tenant: t1, clientId: c, clientSecret: { env: CS } } }',
      tokenUrl: 'https://login.microsoftonline.com/t1/oauth2/v2.0/token',
      scope: 'https://outlook.office365.com/.default',
    },
    {
      preset: 'Google, tokenUrl and scope overridden',
      auth: '{ user: u, method: oauthbearer, oauth2: { provider: google, clientId: c, refreshToken: { env: RT }, tokenUrl: "http://127.0.0.1:9/token", scope: "a b" } }',
      tokenUrl: 'http://127.0.0.1:9/token',
      scope: 'a b',
    },
  ])('applies the presets: $preset', ({ auth, tokenUrl, scope }) => {
    expect({ tokenUrl: settingsOf(auth).tokenUrl, scope: settingsOf(auth).scope }).toEqual({
      tokenUrl,
      scope,
    });
  });

  it('says which keys each grant needs, as path: message lines', () => {
    expect(problemsOf('{ user: u, method: xoauth2, oauth2: { provider: google } }')).toEqual([
      'accounts[0].auth.oauth2.clientId: required: grant refresh_token needs clientId, and refreshToken or a token kept by postroom oauth login (clientSecret for a confidential client)',
    ]);
    expect(
      problemsOf(
        '{ user: u, method: xoauth2, oauth2: { provider: microsoft, grant: client_credentials, clientId: c } }',
      ),
    ).toEqual([
      'accounts[0].auth.oauth2.clientSecret: required: grant client_credentials needs clientId and clientSecret',
      'accounts[0].auth.oauth2.tenant: required for provider microsoft: the directory (tenant) id or domain, e.g. contoso.onmicrosoft.com',
    ]);
    expect(
      problemsOf(
        '{ user: u, method: xoauth2, oauth2: { provider: google, grant: jwt_bearer, refreshToken: { env: RT } } }',
      ),
    ).toEqual([
      "accounts[0].auth.oauth2.serviceAccountKey: required: grant jwt_bearer needs serviceAccountKey (the service account's JSON key)",
      'accounts[0].auth.oauth2.refreshToken: not used with grant jwt_bearer: remove it',
    ]);
    expect(
      problemsOf(
        '{ user: u, method: xoauth2, oauth2: { provider: custom, clientId: c, refreshToken: { env: R } } }',
      ),
    ).toEqual(['accounts[0].auth.oauth2.tokenUrl: required for provider custom: the token endpoint URL']);
  });

  it('requires a password with login and plain, and oauth2 with the OAuth2 methods', () => {
    expect(problemsOf('{ user: u }')).toEqual([
      'accounts[0].auth.password: required with method login (or use method: xoauth2 or oauthbearer with oauth2)',
    ]);
    expect(problemsOf('{ user: u, method: oauthbearer }')).toEqual([
      'accounts[0].auth.oauth2: required with method oauthbearer: { provider: google | microsoft | custom, grant, clientId, ... }',
    ]);
    expect(
      problemsOf(
        '{ user: u, method: xoauth2, password: { env: P }, oauth2: { provider: google, clientId: c, refreshToken: { env: R } } }',
      ),
    ).toEqual([
      'accounts[0].auth.password: not used with method xoauth2 (the oauth2 section gets the token): remove it',
    ]);
    expect(
      problemsOf('{ user: u, method: plain, password: { env: P }, oauth2: { provider: google } }'),
    ).toEqual(['accounts[0].auth.oauth2: only used with method xoauth2 or oauthbearer, not plain']);
  });

  it('rejects a refresh token written by value', () => {
    expect(
      problemsOf(
        '{ user: u, method: xoauth2, oauth2: { provider: google, clientId: c, refreshToken: "1//0abc" } }',
      ),
    ).toEqual([
      'accounts[0].auth.oauth2.refreshToken: expected { env: VARIABLE } or { secret: NAME-OR-ARN } (secrets are never written in config)',
    ]);
  });
});
