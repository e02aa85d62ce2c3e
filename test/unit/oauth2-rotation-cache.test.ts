/**
 * A refresh token rotated in one Lambda container and written back with
 * PutSecretValue must be the one the next container presents, even though
 * that container's Powertools secret cache (5 minutes) still holds the old
 * value. The token endpoint is the strict local one (a used refresh token is
 * void); Secrets Manager is a client double holding one value per secret,
 * read through the real Powertools provider and its cache.
 */

import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerRefreshTokenStore } from '#lib/adapters/aws/secrets-manager-refresh-token-store.ts';
import { createOAuth2TokenSource, forgetOAuth2Tokens } from '#lib/adapters/oauth2-token-source.ts';
import { parseConfig } from '#lib/config/load.ts';
import type { SecretRef } from '#lib/config/schema.ts';
import { type OAuthServer, oauthControl, startOAuthServer } from '../helpers/oauth-server.ts';

let server: OAuthServer;
beforeAll(async () => {
  server = await startOAuthServer();
});
afterAll(() => server.stop());

/** One Secrets Manager for every container: GetSecretValue and PutSecretValue on a map. */
function secretsManager(initial: Record<string, string>) {
  const values = new Map(Object.entries(initial));
  const client = new SecretsManagerClient({ region: 'eu-west-1' });
  const mock = mockClient(client);
  mock.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => ({
    Name: input.SecretId,
    SecretString: values.get(input.SecretId),
  }));
  mock.on(PutSecretValueCommand).callsFake((input: { SecretId: string; SecretString: string }) => {
    values.set(input.SecretId, input.SecretString);
    return {};
  });
  return { client, values };
}

/** A Lambda container: its own Powertools cache over the shared Secrets Manager, the handler's secret reads. */
function container(client: SecretsManagerClient) {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  const read = async (ref: SecretRef) =>
    String(await provider.get((ref as { secret: string }).secret, { maxAge: 300 }));
  const tokens = createOAuth2TokenSource({
    resolveSecret: read,
    refreshTokens: new SecretsManagerRefreshTokenStore({ client }),
  });
  return { read, tokens };
}

describe('a rotated refresh token in AWS', () => {
  it('is presented by the next container although its secret cache still holds the old one', async () => {
    // Prepare
    const control = oauthControl(server.url);
    const clientId = 'rotation-cache';
    const first = await control.grant('support@example.com', clientId);
    const { client, values } = secretsManager({ 'postroom/rt': first });
    const account = parseConfig(
      `accounts:\n  - id: support\n    host: imap.gmail.com\n    auth: { user: support@example.com, method: xoauth2, oauth2: { provider: custom, tokenUrl: "${control.tokenUrl}", clientId: ${clientId}, refreshToken: { secret: postroom/rt } } }\n`,
    ).accounts[0]!;
    const ref = { secret: 'postroom/rt' };
    const a = container(client);
    const b = container(client);
    await b.read(ref); // B cached the first token at its cold start

    // Act: A refreshes (the endpoint rotates, A writes the successor back), then B, a process of its own
    forgetOAuth2Tokens();
    await a.tokens.accessToken(account);
    const rotated = values.get('postroom/rt');
    forgetOAuth2Tokens();
    const token = await b.tokens.accessToken(account);

    // Assess
    expect(rotated).not.toBe(first);
    expect(await b.read(ref)).toBe(first); // the cache B reads other secrets through is stale...
    expect(token.value).toMatch(/^at-/); // ...and B still refreshed with the rotated token
    expect(await control.stats(clientId)).toEqual({ tokenRequests: 2, refused: 0, introspections: 0 });
    expect(values.get('postroom/rt')).not.toBe(rotated); // B's own rotation was written back too
  });
});
