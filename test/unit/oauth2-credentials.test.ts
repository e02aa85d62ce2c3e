/**
 * Where OAuth2 credentials go and where they must not: the trace redactor over
 * the SASL responses of XOAUTH2 and OAUTHBEARER, and the two refresh-token
 * stores (SQLite locally, Secrets Manager `PutSecretValue` in AWS).
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SecretsManagerRefreshTokenStore } from '#lib/adapters/aws/secrets-manager-refresh-token-store.ts';
import { SqliteRefreshTokenStore } from '#lib/adapters/local/sqlite-refresh-token-store.ts';
import { parseConfig } from '#lib/config/load.ts';
import { redactor } from '#lib/imap/connect.ts';

const account = (refreshToken: string) =>
  parseConfig(
    `accounts:\n  - id: support\n    host: h\n    auth: { user: u@example.com, method: xoauth2, oauth2: { provider: google, clientId: c, refreshToken: ${refreshToken} } }\n`,
  ).accounts[0]!;

describe('OAuth2 credentials', () => {
  const token = 'ya29.a0AfB_byC-secret-access-token';
  const redact = redactor('u@example.com', token);
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  it.each([
    [
      'an XOAUTH2 initial response',
      `C: 1 AUTHENTICATE XOAUTH2 ${b64(`user=u@example.com\x01auth=Bearer ${token}\x01\x01`)}`,
    ],
    [
      'an OAUTHBEARER initial response',
      `C: 1 AUTHENTICATE OAUTHBEARER ${b64(`n,a=u@example.com,\x01host=h\x01port=993\x01auth=Bearer ${token}\x01\x01`)}`,
    ],
    [
      'a SASL response on its own line',
      `C: ${b64(`n,a=u@example.com,\x01host=h\x01port=143\x01auth=Bearer ${token}\x01\x01`)}`,
    ],
    ['the token itself', `S: * BAD token ${token} not accepted`],
  ])('redacts %s from trace lines', (_what, line) => {
    const out = redact(line);
    expect(out).not.toContain(token);
    expect(out).toContain('***');
    expect(Buffer.from(out.split(' ').at(-1)!, 'base64').toString('latin1')).not.toContain(token);
  });

  it('keeps a rotated refresh token in SQLite, for the configured token it descends from only', async () => {
    const store = new SqliteRefreshTokenStore({ db: new Database(':memory:') });
    const support = account('{ env: RT }');

    await store.rotate(support, 'configured-1', 'rotated-1');
    await store.rotate(support, 'configured-1', 'rotated-2');

    expect(await store.current(support, 'configured-1')).toBe('rotated-2');
    // A new consent puts a new token in the variable: the kept one no longer applies.
    expect(await store.current(support, 'configured-2')).toBe('configured-2');
  });

  it('writes a rotated refresh token back to its secret with PutSecretValue', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    const mock = mockClient(client);
    mock.on(PutSecretValueCommand).resolves({});
    const store = new SecretsManagerRefreshTokenStore({ client });

    await store.rotate(account('{ secret: postroom/support-refresh-token }'), 'old', 'new-token');

    expect(mock.commandCalls(PutSecretValueCommand).map((call) => call.args[0].input)).toEqual([
      { SecretId: 'postroom/support-refresh-token', SecretString: 'new-token' },
    ]);
  });

  it('names the secret, never the token, when the write is refused', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    mockClient(client)
      .on(PutSecretValueCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    const store = new SecretsManagerRefreshTokenStore({ client });

    const error = (await store
      .rotate(account('{ secret: postroom/rt }'), 'old', 'new-token')
      .catch((e: unknown) => e)) as Error;

    expect(error.message).toBe('secret postroom/rt could not be written: AccessDeniedException');
  });
});
