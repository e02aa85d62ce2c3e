/**
 * Postroom's own check of the sender (`accounts[].verifyAuth: true`), with
 * mailauth: DKIM signatures, SPF for the client IP of the topmost Received
 * header (the one the receiving server wrote), DMARC alignment, ARC.
 *
 * DNS goes through an injectable resolver (tests need no network); every
 * lookup and the whole check are bounded in time, and a failing check is a
 * `temperror`, never a thrown error: the rules then see no pass.
 */
import { promises as dns } from 'node:dns';
import type { Readable } from 'node:stream';
import { type AuthVerdicts, noVerdicts } from './auth-results.ts';

/** Answers like `dns.promises.resolve(name, rrtype)` (TXT: arrays of strings). */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

export interface VerifyOptions {
  resolver?: DnsResolver;
  /** The receiving host's name, for the SPF check (mailauth's `mta`). */
  mta?: string;
  /** For one lookup. @default 5000 */
  lookupTimeoutMs?: number;
  /** For the whole check. @default 15000 */
  timeoutMs?: number;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out`), { code: 'ETIMEOUT' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const defaultResolver: DnsResolver = (name, rrtype) => dns.resolve(name, rrtype);

/** Verifies the raw message; never throws. */
export async function verifySender(
  raw: Buffer | Readable,
  options: VerifyOptions = {},
): Promise<AuthVerdicts> {
  const resolver = options.resolver ?? defaultResolver;
  const lookupMs = options.lookupTimeoutMs ?? 5000;
  const bounded = (name: string, rrtype: string) =>
    withTimeout(Promise.resolve(resolver(name, rrtype)), lookupMs, `DNS ${rrtype} ${name}`);
  try {
    const { authenticate } = await import('mailauth');
    const result = await withTimeout(
      authenticate(raw, {
        trustReceived: true,
        // mailauth's resolver type is narrower than what dns.resolve returns across record types.
        resolver: bounded as Parameters<typeof authenticate>[1] extends { resolver?: infer R } ? R : never,
        ...(options.mta ? { mta: options.mta } : {}),
        disableBimi: true,
      }),
      options.timeoutMs ?? 15_000,
      'sender verification',
    );
    const verdicts = noVerdicts();
    verdicts.source = 'verified';
    for (const signature of result.dkim?.results ?? []) {
      verdicts.dkim.push({
        result: String(signature.status?.result ?? 'none'),
        ...(signature.signingDomain ? { domain: signature.signingDomain.toLowerCase() } : {}),
        ...(signature.selector ? { selector: signature.selector } : {}),
      });
    }
    if (result.spf) {
      const status = (result.spf as { status?: { result?: string } }).status;
      verdicts.spf = {
        result: String(status?.result ?? 'none'),
        ...(result.spf.domain ? { domain: result.spf.domain.toLowerCase() } : {}),
      };
    }
    if (result.dmarc) {
      const status = (result.dmarc as { status?: { result?: string } }).status;
      verdicts.dmarc = {
        result: String(status?.result ?? 'none'),
        ...(result.dmarc.domain ? { domain: result.dmarc.domain.toLowerCase() } : {}),
        ...(result.dmarc.policy ? { policy: result.dmarc.policy } : {}),
      };
    }
    if (result.arc) {
      const status = (result.arc as { status?: { result?: string } }).status;
      verdicts.arc = { result: String(status?.result ?? 'none') };
    }
    return verdicts;
  } catch {
    const verdicts = noVerdicts();
    verdicts.source = 'verified';
    verdicts.spf.result = 'temperror';
    verdicts.dmarc.result = 'temperror';
    return verdicts;
  }
}
