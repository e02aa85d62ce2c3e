/**
 * Secrets Manager through Powertools Parameters. A password is cached for an
 * hour in a warm Lambda container: a poll every few minutes must not pay a
 * GetSecretValue each time (at rate(5 minutes) that read is most of what an
 * idle mailbox costs). A password changed in the meantime is not waited for:
 * a login the server refuses reads the secret again (`fresh`) and retries once
 * when it changed (see `lib/composition/runtime.ts`).
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

/** How long a secret's value is reused before it is read again, in seconds. */
export const SECRET_CACHE_SECONDS = 3600;

/** Returns the secret string for a name or ARN (binary secrets are not supported for passwords). */
export async function fetchSecretFromSecretsManager(
  nameOrArn: string,
  options: { fresh?: boolean } = {},
): Promise<string | undefined> {
  const value = await getSecret(nameOrArn, {
    maxAge: SECRET_CACHE_SECONDS,
    ...(options.fresh ? { forceFetch: true } : {}),
  });
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : Buffer.from(value as Uint8Array).toString('utf8');
}
