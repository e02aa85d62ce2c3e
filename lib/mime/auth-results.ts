/**
 * Sender authentication verdicts from `Authentication-Results` (RFC 8601).
 *
 * Anyone can write such a header into the mail they send, so a verdict counts
 * only when the header names the receiving server's own authserv-id (the
 * account's `authservId`) and is the topmost one that does, together with the
 * matching headers right next to it (several milters on one server each add
 * one, on top). A header naming another host, or a matching one further down
 * (below the server's own), is ignored. The receiving server is expected to
 * remove headers that claim its id on the way in (RFC 8601 section 5), as
 * Postfix with OpenDMARC, Gmail and Microsoft 365 do.
 */
import type { HeaderField } from '../rules/message.ts';

/** `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, `policy`. */
export type AuthResult = string;

export interface DkimVerdict {
  result: AuthResult;
  /** The signing domain (`header.d`). */
  domain?: string;
  selector?: string;
}

/** What is known of the sender's authentication; `none` where nothing trusted said. */
export interface AuthVerdicts {
  /** `header`: from a trusted Authentication-Results; `verified`: Postroom checked itself (`verifyAuth`). */
  source: 'header' | 'verified' | 'none';
  /** The authserv-id of the trusted header. */
  authservId?: string;
  dkim: DkimVerdict[];
  spf: { result: AuthResult; domain?: string };
  dmarc: { result: AuthResult; domain?: string; policy?: string };
  arc: { result: AuthResult };
}

export function noVerdicts(): AuthVerdicts {
  return {
    source: 'none',
    dkim: [],
    spf: { result: 'none' },
    dmarc: { result: 'none' },
    arc: { result: 'none' },
  };
}

/** One `method=result` of a header, with its properties (`header.d`, `smtp.mailfrom`, ...). */
export interface ResultInfo {
  method: string;
  result: AuthResult;
  properties: Record<string, string>;
}

export interface ParsedAuthResults {
  authservId: string;
  results: ResultInfo[];
}

/** Removes RFC 5322 comments (nested parentheses), leaving quoted strings alone. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      if (depth === 0) out += c + value[i + 1];
      i++;
    } else if (quoted) {
      out += c;
      if (c === '"') quoted = false;
    } else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/** Splits at `;` outside quoted strings. */
function splitStatements(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of value) {
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function unquote(value: string): string {
  return value.startsWith('"') && value.endsWith('"') && value.length >= 2
    ? value.slice(1, -1).replace(/\\(.)/g, '$1')
    : value;
}

/** Parses one header value; undefined when it has no authserv-id. Bounded: at most 64 results. */
export function parseAuthenticationResults(value: string): ParsedAuthResults | undefined {
  const [head, ...statements] = splitStatements(stripComments(value.slice(0, 16_384)));
  const authservId = head?.split(/\s+/)[0]?.toLowerCase();
  if (!authservId) return undefined;
  const results: ResultInfo[] = [];
  for (const statement of statements.slice(0, 64)) {
    const tokens =
      statement.match(/(?:[^\s"=]+|"(?:[^"\\]|\\.)*")(?:\s*=\s*(?:[^\s"]+|"(?:[^"\\]|\\.)*"))?/g) ?? [];
    const first = tokens[0];
    if (!first?.includes('=')) continue; // `none`, or garbage
    const [methodPart, resultPart] = first.split(/\s*=\s*/, 2) as [string, string];
    const properties: Record<string, string> = {};
    for (const token of tokens.slice(1)) {
      const eq = token.indexOf('=');
      if (eq < 0) continue;
      properties[token.slice(0, eq).trim().toLowerCase()] = unquote(token.slice(eq + 1).trim());
    }
    results.push({
      method: methodPart.split('/')[0]!.toLowerCase(),
      result: unquote(resultPart).toLowerCase(),
      properties,
    });
  }
  return { authservId, results };
}

/**
 * The trusted headers: the topmost Authentication-Results naming one of
 * `authservIds`, and the ones naming it directly below it (only other
 * Authentication-Results in between).
 */
export function trustedAuthResults(
  headers: readonly HeaderField[],
  authservIds: readonly string[],
): ParsedAuthResults[] {
  const ids = new Set(authservIds.map((id) => id.toLowerCase()));
  const trusted: ParsedAuthResults[] = [];
  for (const header of headers) {
    if (header.name !== 'authentication-results') {
      if (trusted.length > 0) break;
      continue;
    }
    const parsed = parseAuthenticationResults(header.value);
    if (parsed && ids.has(parsed.authservId)) trusted.push(parsed);
    else if (trusted.length > 0) break;
  }
  return trusted;
}

function domainOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.slice(value.lastIndexOf('@') + 1).toLowerCase() || undefined;
}

/** The verdicts of the trusted headers; `none` for each method none of them reports. */
export function verdictsFromHeaders(
  headers: readonly HeaderField[],
  authservIds: readonly string[],
): AuthVerdicts {
  const verdicts = noVerdicts();
  const trusted = trustedAuthResults(headers, authservIds);
  if (trusted.length === 0) return verdicts;
  verdicts.source = 'header';
  verdicts.authservId = trusted[0]!.authservId;
  for (const info of trusted.flatMap((t) => t.results)) {
    const p = info.properties;
    if (info.method === 'dkim') {
      const domain = domainOf(p['header.d'] ?? p['header.i']);
      verdicts.dkim.push({
        result: info.result,
        ...(domain ? { domain } : {}),
        ...(p['header.s'] ? { selector: p['header.s'] } : {}),
      });
    } else if (info.method === 'spf' && verdicts.spf.result === 'none') {
      const domain = domainOf(p['smtp.mailfrom'] ?? p['smtp.helo']);
      verdicts.spf = { result: info.result, ...(domain ? { domain } : {}) };
    } else if (info.method === 'dmarc' && verdicts.dmarc.result === 'none') {
      const domain = domainOf(p['header.from']);
      const policy = p['policy.published-domain-policy'] ?? p['policy.dmarc'];
      verdicts.dmarc = { result: info.result, ...(domain ? { domain } : {}), ...(policy ? { policy } : {}) };
    } else if (info.method === 'arc' && verdicts.arc.result === 'none') {
      verdicts.arc = { result: info.result };
    }
  }
  return verdicts;
}
