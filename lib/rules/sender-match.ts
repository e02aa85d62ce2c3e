/**
 * Evaluating `auth`, `spam`, `bounce` and `complaint` (see `sender-schema.ts`).
 * Unknown (`undefined`) when the message's headers are not loaded; without a
 * trusted verdict every method is `none`, so `auth: { dmarc: pass }` is false.
 */
import { type AuthVerdicts, noVerdicts } from '../mime/auth-results.ts';
import { bounceOf, complaintOf } from '../mime/classify.ts';
import { spamVerdict } from '../mime/spam.ts';
import type { RuleInput } from './message.ts';
import type { AuthTest, SpamTest } from './sender-schema.ts';

type Truth = boolean | undefined;

/** The condition keys evaluated here: all need the message's headers. */
export const SENDER_KEYS = ['auth', 'spam', 'bounce', 'complaint'] as const;

function list<T>(value: T | T[] | undefined): T[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function inDomain(domain: string | undefined, wanted: string[]): boolean {
  if (domain === undefined) return false;
  const d = domain.toLowerCase().replace(/\.$/, '');
  return wanted.some((w) => d === w || d.endsWith(`.${w}`));
}

/** The verdicts a rule sees: those established for the message, or `none` throughout. */
export function verdictsOf(input: RuleInput): AuthVerdicts | undefined {
  if (input.auth) return input.auth;
  return input.headers === undefined ? undefined : noVerdicts();
}

export function compileAuthTest(test: AuthTest): (input: RuleInput) => Truth {
  const dkim =
    test.dkim === undefined
      ? undefined
      : typeof test.dkim === 'string' || Array.isArray(test.dkim)
        ? { results: list(test.dkim)!, domains: undefined }
        : {
            results: list(test.dkim.result) ?? ['pass'],
            domains: list(test.dkim.domain)?.map((d) => d.toLowerCase().replace(/\.$/, '')),
          };
  const spf = list(test.spf);
  const dmarc = list(test.dmarc);
  const arc = list(test.arc);
  return (input) => {
    const verdicts = verdictsOf(input);
    if (!verdicts) return undefined;
    if (dkim) {
      const ok = verdicts.dkim.some(
        (signature) =>
          (dkim.results as string[]).includes(signature.result) &&
          (dkim.domains === undefined || inDomain(signature.domain, dkim.domains)),
      );
      // No signature at all is a DKIM result of `none`.
      const none = verdicts.dkim.length === 0 && (dkim.results as string[]).includes('none') && !dkim.domains;
      if (!ok && !none) return false;
    }
    if (spf && !(spf as string[]).includes(verdicts.spf.result)) return false;
    if (dmarc && !(dmarc as string[]).includes(verdicts.dmarc.result)) return false;
    if (arc && !(arc as string[]).includes(verdicts.arc.result)) return false;
    return true;
  };
}

export function compileSpamTest(test: SpamTest): (input: RuleInput) => Truth {
  return (input) => {
    if (input.headers === undefined) return undefined;
    const verdict = spamVerdict(input.headers);
    if (test.flagged !== undefined && (verdict?.flagged ?? false) !== test.flagged) return false;
    if (test.score !== undefined) {
      // No score header: the condition cannot hold (an unscored message is not "over 5", nor "under 5").
      if (verdict?.score === undefined) return false;
      if (test.score.over !== undefined && !(verdict.score > test.score.over)) return false;
      if (test.score.under !== undefined && !(verdict.score < test.score.under)) return false;
    }
    return true;
  };
}

const bounces = new WeakMap<RuleInput, boolean>();
const complaints = new WeakMap<RuleInput, boolean>();

/** A failure report (not a delay or success notice). */
export function isBounce(input: RuleInput): Truth {
  if (input.headers === undefined) return undefined;
  let value = bounces.get(input);
  if (value === undefined) {
    const bounce = bounceOf({ headers: input.headers, text: input.text ?? '', reports: input.reports ?? [] });
    value = bounce !== undefined && bounce.action === 'failed';
    bounces.set(input, value);
  }
  return value;
}

export function isComplaint(input: RuleInput): Truth {
  if (input.headers === undefined) return undefined;
  let value = complaints.get(input);
  if (value === undefined) {
    value =
      complaintOf({ headers: input.headers, text: input.text ?? '', reports: input.reports ?? [] }) !==
      undefined;
    complaints.set(input, value);
  }
  return value;
}
