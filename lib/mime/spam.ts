/**
 * The spam verdict the receiving server wrote: SpamAssassin's `X-Spam-Status`
 * (`Yes, score=7.1 required=5.0 tests=...`), `X-Spam-Score`, `X-Spam-Flag`,
 * Rspamd's `X-Rspamd-Score`. Only the topmost occurrence of each counts: the
 * server adds its own on top (and SpamAssassin replaces a sender's).
 */
import type { HeaderField } from '../rules/message.ts';

export interface SpamVerdict {
  score?: number;
  /** The score at which the filter calls it spam. */
  threshold?: number;
  /** The filter's yes/no (X-Spam-Flag, or the first word of X-Spam-Status). */
  flagged?: boolean;
  /** SpamAssassin's test names, at most 50. */
  tests?: string[];
}

/** The headers spam filters add, lower case: these also go into the event's `headers`. */
export const SPAM_HEADERS = [
  'x-spam-status',
  'x-spam-score',
  'x-spam-flag',
  'x-spam-level',
  'x-rspamd-score',
  'x-ms-exchange-organization-scl',
] as const;

function number(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number.parseFloat(text);
  return Number.isFinite(value) ? value : undefined;
}

/** The verdict, or undefined when no spam header is there. */
export function spamVerdict(headers: readonly HeaderField[]): SpamVerdict | undefined {
  const first = (name: string) =>
    headers
      .find((h) => h.name === name)
      ?.value.slice(0, 4096)
      .trim();
  const status = first('x-spam-status');
  const scoreHeader = first('x-spam-score') ?? first('x-rspamd-score');
  const flag = first('x-spam-flag');
  if (status === undefined && scoreHeader === undefined && flag === undefined) return undefined;
  const verdict: SpamVerdict = {};
  if (status !== undefined) {
    const yes = /^\s*(yes|no)\b/i.exec(status);
    if (yes) verdict.flagged = yes[1]!.toLowerCase() === 'yes';
    const score = number(/\b(?:score|hits)=(-?\d+(?:\.\d+)?)/i.exec(status)?.[1]);
    if (score !== undefined) verdict.score = score;
    const threshold = number(/\brequired=(-?\d+(?:\.\d+)?)/i.exec(status)?.[1]);
    if (threshold !== undefined) verdict.threshold = threshold;
    const tests = /\btests=([^\s,]+(?:,\s*[^\s,=]+)*)/i.exec(status)?.[1];
    if (tests)
      verdict.tests = tests
        .split(/,\s*/)
        .filter((t) => t !== '' && t.toLowerCase() !== 'none')
        .slice(0, 50);
  }
  if (verdict.score === undefined) {
    const score = number(scoreHeader);
    if (score !== undefined) verdict.score = score;
  }
  if (flag !== undefined) verdict.flagged = /^yes\b/i.test(flag);
  return verdict;
}
