/**
 * A secret given by reference: an environment variable (local) or a Secrets
 * Manager secret (AWS). Secrets are never written in config by value. Shared by
 * the account schema and the rule schema (webhook secrets).
 */
import * as z from 'zod';

export const secretRefSchema = z.union(
  [
    z.strictObject({
      env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'),
    }),
    z.strictObject({ secret: z.string().min(1, 'expected a secret name or ARN') }),
  ],
  { error: 'expected { env: VARIABLE } or { secret: NAME-OR-ARN } (secrets are never written in config)' },
);

export type SecretRef = z.infer<typeof secretRefSchema>;
