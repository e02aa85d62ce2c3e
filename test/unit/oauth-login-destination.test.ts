/**
 * Where `postroom oauth login` keeps a refresh token, decided from the config
 * before any browser is involved: the secret the config names, the local
 * state store when it names none, and a refusal otherwise.
 */
import { describe, expect, it } from 'vitest';
import { refreshTokenDestination } from '#lib/cli/commands/oauth.ts';
import { parseConfig } from '#lib/config/load.ts';
import { ConfigError } from '#lib/errors.ts';

const config = (oauth2: string, store = '{ kind: local, dir: /tmp/pr-store }', method = 'xoauth2') =>
  parseConfig(
    `store: ${store}\naccounts:\n  - id: support\n    host: imap.gmail.com\n    auth: { user: u@example.com, method: ${method}, ${oauth2} }\n`,
  );

const problemsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a refusal');
};

const AWS = '{ kind: aws, bucket: bkt, queueUrl: "https://sqs.eu-west-1.amazonaws.com/1/q", table: tbl }';

describe('where oauth login keeps the refresh token', () => {
  it('writes the secret the config names, whatever the store', () => {
    const withSecret = 'oauth2: { provider: google, clientId: c, refreshToken: { secret: postroom/rt } }';
    expect(refreshTokenDestination(config(withSecret), 0)).toEqual({ kind: 'secret', secret: 'postroom/rt' });
    expect(refreshTokenDestination(config(withSecret, AWS), 0)).toEqual({
      kind: 'secret',
      secret: 'postroom/rt',
    });
  });

  it('keeps it in the local state store when the config names none', () => {
    expect(refreshTokenDestination(config('oauth2: { provider: google, clientId: c }'), 0)).toEqual({
      kind: 'state-store',
      file: '/tmp/pr-store/postroom.db',
    });
  });

  it('refuses an AWS store without a secret, a grant that needs no user, and a password account', () => {
    expect(
      problemsOf(() => refreshTokenDestination(config('oauth2: { provider: google, clientId: c }', AWS), 0)),
    ).toEqual([
      'accounts[0].auth.oauth2.refreshToken: required with store kind aws: { secret: NAME } (postroom oauth login writes it)',
    ]);
    const appOnly =
      'oauth2: { provider: microsoft, tenant: t.onmicrosoft.com, grant: client_credentials, clientId: c, clientSecret: { secret: s } }';
    expect(problemsOf(() => refreshTokenDestination(config(appOnly), 0))).toEqual([
      "accounts[0].auth.oauth2.grant: client_credentials gets tokens without a user's consent; postroom oauth login is for refresh_token",
    ]);
    expect(
      problemsOf(() => refreshTokenDestination(config('password: { env: P }', undefined, 'login'), 0)),
    ).toEqual([
      'accounts[0].auth.method: postroom oauth login needs method xoauth2 or oauthbearer with an oauth2 section',
    ]);
  });
});
