/**
 * Resolving secret references. Values are fetched when needed and never
 * logged; errors name the reference, never the value.
 */
import { SecretError } from '../errors.ts';
import type { SecretRef } from './schema.ts';

/** Something that returns a secret's value by name or ARN (Secrets Manager in AWS). */
export type SecretFetcher = (nameOrArn: string, options?: { fresh?: boolean }) => Promise<string | undefined>;

export interface SecretResolverOptions {
  env?: NodeJS.ProcessEnv;
  /** Needed only for `{ secret }` references. */
  fetchSecret?: SecretFetcher;
  /** Read past any cache: the cached value was just refused. */
  fresh?: boolean;
}

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `secret ${ref.secret}`;
}

export async function resolveSecret(ref: SecretRef, options: SecretResolverOptions = {}): Promise<string> {
  if ('env' in ref) {
    const value = (options.env ?? process.env)[ref.env];
    if (value === undefined || value === '') {
      throw new SecretError(`${describeSecretRef(ref)} is not set`, { context: { env: ref.env } });
    }
    return value;
  }
  if (!options.fetchSecret) {
    throw new SecretError(`${describeSecretRef(ref)} needs AWS Secrets Manager (store kind: aws)`, {
      context: { secret: ref.secret },
    });
  }
  let value: string | undefined;
  try {
    value = await options.fetchSecret(ref.secret, options.fresh ? { fresh: true } : undefined);
  } catch (error) {
    throw new SecretError(`${describeSecretRef(ref)} could not be read: ${(error as Error).name}`, {
      cause: error,
      context: { secret: ref.secret },
    });
  }
  if (value === undefined || value === '') {
    throw new SecretError(`${describeSecretRef(ref)} is empty`, { context: { secret: ref.secret } });
  }
  return value;
}
