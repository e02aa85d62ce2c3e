/**
 * The effective `accounts[].limits`. Kept apart from the schema so that the
 * IMAP layer, which reads a validated config, does not build the zod schemas
 * at import.
 */
import type { AccountConfig, ImapLimits } from './schema.ts';

/** The defaults: a Lambda with 512 MB and any timeout stays within them. */
export const IMAP_LIMIT_DEFAULTS: Readonly<Required<ImapLimits>> = {
  maxLineBytes: 1024 * 1024,
  bodySlackBytes: 64 * 1024,
  stallSeconds: 30,
  sessionSeconds: 900,
};

/** The account's limits with every default applied (a key left out takes its default). */
export function imapLimits(account: Pick<AccountConfig, 'limits'>): Required<ImapLimits> {
  const limits = { ...IMAP_LIMIT_DEFAULTS };
  for (const [key, value] of Object.entries(account.limits ?? {}) as [keyof ImapLimits, number | undefined][])
    if (value !== undefined) limits[key] = value;
  return limits;
}
