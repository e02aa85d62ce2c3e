/**
 * Secrets Manager through Powertools Parameters: values are cached for the
 * life of a warm Lambda container (5 minutes by default), so a poll every few
 * minutes does not pay for a GetSecretValue each time.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

/** Returns the secret string for a name or ARN (binary secrets are not supported for passwords). */
export async function fetchSecretFromSecretsManager(nameOrArn: string): Promise<string | undefined> {
  const value = await getSecret(nameOrArn, { maxAge: 300 });
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : Buffer.from(value as Uint8Array).toString('utf8');
}
