/**
 * The CA certificates a private server's certificate is verified against
 * (`tlsOptions.ca`): read from the file a path names (the CLI), taken as they
 * are from `{ pem }` (what `cdk synth` bundles for Lambda, which has no such
 * file), or from a secret reference the caller resolved (`resolvedCa`).
 */
import { readFile } from 'node:fs/promises';
import type { AccountConfig } from '../config/schema.ts';
import { imapError } from './errors.ts';

/** The PEM text to trust, or undefined for the system's CAs. */
export async function loadTlsCa(
  account: AccountConfig,
  resolvedCa?: string,
): Promise<Buffer | string | undefined> {
  const setting = account.tlsOptions?.ca;
  if (setting === undefined) return undefined;
  if (typeof setting === 'object') {
    if ('pem' in setting) return setting.pem;
    if (resolvedCa !== undefined) return resolvedCa;
    // The composition root resolves references before connecting; reaching here is a wiring bug.
    throw imapError('TLS_FAILED', account.id, 'tlsOptions.ca is a secret reference nobody resolved', {
      retryable: false,
    });
  }
  try {
    return await readFile(setting);
  } catch (error) {
    throw imapError(
      'TLS_FAILED',
      account.id,
      `cannot read tlsOptions.ca ${setting} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error, retryable: false },
    );
  }
}
