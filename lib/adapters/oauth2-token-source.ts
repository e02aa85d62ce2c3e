/**
 * OAuth2 access tokens for IMAP (`auth.method: xoauth2 | oauthbearer`), from
 * the account's token endpoint with the global `fetch`.
 *
 * Tokens are cached in module scope, so warm Lambda invocations and every
 * runtime of one process share them, until shortly before they expire. One
 * request per account is in flight at a time: concurrent callers share its
 * promise, so two refreshes never race to rotate the same refresh token. A
 * rotated refresh token (RFC 6749 6: the endpoint "MAY issue a new refresh
 * token") is kept in memory and in the `RefreshTokenStore`, and used from
 * then on.
 */
import { createSign } from 'node:crypto';
import { type OAuth2Grant, oauth2Settings } from '../config/oauth2.ts';
import type { AccountConfig, SecretRef } from '../config/schema.ts';
import { OAuthError } from '../errors.ts';
import type { AccessToken, AccessTokenSource, Logger, RefreshTokenStore } from '../ports.ts';

export interface OAuth2TokenSourceOptions {
  /** Resolves a secret reference (and registers its value for redaction). */
  resolveSecret(ref: SecretRef): Promise<string>;
  /** Where rotated refresh tokens are kept beyond this process. @default memory only */
  refreshTokens?: RefreshTokenStore | undefined;
  /** Told every token value as it arrives, so output can redact it. */
  onSecret?: ((value: string) => void) | undefined;
  logger?: Logger | undefined;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default Date.now */
  now?: () => number;
  /** One token request's budget. @default 30000 */
  timeoutMs?: number;
}

interface CachedToken {
  value: string;
  expiresAt: number;
  /** Refresh from here on: a quarter of the lifetime, at most a minute, before expiry. */
  refreshAt: number;
}

// Module scope on purpose: a Lambda container's runtime is rebuilt per cold
// start only, and tests or `run` may build several runtimes in one process.
const cache = new Map<string, CachedToken>();
const inFlight = new Map<string, Promise<CachedToken>>();
/** The newest refresh token per account, with the configured value it descends from. */
const rotated = new Map<string, { configured: string; current: string }>();

/** Forgets every cached token and rotated refresh token of this process (tests). */
export function forgetOAuth2Tokens(): void {
  cache.clear();
  inFlight.clear();
  rotated.clear();
}

const WHAT: Record<OAuth2Grant, string> = {
  refresh_token: 'refresh token',
  client_credentials: 'client credentials',
  jwt_bearer: 'service account assertion',
};

/** A token answer larger than this is not a token answer. */
const MAX_ANSWER_BYTES = 64 * 1024;

export function createOAuth2TokenSource(options: OAuth2TokenSourceOptions): AccessTokenSource {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;

  const request = async (account: AccountConfig): Promise<CachedToken> => {
    const oauth2 = account.auth.oauth2;
    if (!oauth2) throw new OAuthError('OAUTH_FAILED', `account ${account.id}: no auth.oauth2 section`);
    const { grant, tokenUrl, scope } = oauth2Settings(oauth2);
    const key = cacheKey(account);
    const secrets: string[] = [];
    const secret = async (ref: SecretRef) => {
      const value = await options.resolveSecret(ref);
      secrets.push(value);
      return value;
    };
    const body = new URLSearchParams();
    let configured = '';
    let refreshToken = '';
    if (grant === 'jwt_bearer') {
      const serviceKey = parseServiceAccountKey(account.id, await secret(oauth2.serviceAccountKey!));
      body.set('grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer');
      let assertion: string;
      try {
        assertion = signAssertion(serviceKey, { sub: account.auth.user, scope, aud: tokenUrl, now: now() });
      } catch (error) {
        // Node's message names the decoder's complaint, never the key.
        throw new OAuthError(
          'OAUTH_FAILED',
          `account ${account.id}: cannot sign with the serviceAccountKey's private_key: ${(error as Error).message}`,
          { cause: error },
        );
      }
      body.set('assertion', assertion);
    } else {
      body.set('grant_type', grant);
      if (oauth2.clientId) body.set('client_id', oauth2.clientId);
      if (oauth2.clientSecret) body.set('client_secret', await secret(oauth2.clientSecret));
      if (grant === 'refresh_token') {
        // No reference: `postroom oauth login` kept the token in the state store ('' stands for "none configured").
        configured = oauth2.refreshToken ? await secret(oauth2.refreshToken) : '';
        // The store is asked every time: in AWS it reads the secret past any cache, so a token another
        // container rotated and wrote back is used, not the stale value a cached read returned.
        const stored = (await options.refreshTokens?.current(account, configured)) ?? configured;
        const memory = rotated.get(key);
        refreshToken =
          stored !== configured ? stored : memory?.configured === configured ? memory.current : configured;
        if (refreshToken === '') {
          throw new OAuthError(
            'OAUTH_FAILED',
            `account ${account.id}: no refresh token: run postroom oauth login --account ${account.id}, ` +
              'or set auth.oauth2.refreshToken',
            { context: { account: account.id } },
          );
        }
        if (refreshToken !== configured) {
          secrets.push(refreshToken);
          options.onSecret?.(refreshToken);
        }
        body.set('refresh_token', refreshToken);
      }
      if (scope) body.set('scope', scope);
    }

    const started = now();
    const answer = await post(fetchImpl, tokenUrl, body, options.timeoutMs ?? 30_000).catch(
      (error: unknown) => {
        throw new OAuthError(
          'OAUTH_UNAVAILABLE',
          scrub(
            `account ${account.id}: token endpoint ${tokenUrl} could not be reached: ${(error as Error)?.message ?? String(error)}`,
            secrets,
          ),
          { context: { account: account.id, tokenUrl } },
        );
      },
    );
    const json = answer.json;
    const accessToken = typeof json?.access_token === 'string' ? json.access_token : '';
    if (answer.status >= 400 || accessToken === '') {
      const refused = describeRefusal(answer.status, json);
      const unavailable = answer.status >= 500 || answer.status === 429;
      throw new OAuthError(
        unavailable ? 'OAUTH_UNAVAILABLE' : 'OAUTH_FAILED',
        scrub(
          `account ${account.id}: token endpoint ${tokenUrl} refused the ${WHAT[grant]}: ${refused}`,
          secrets,
        ),
        {
          context: {
            account: account.id,
            tokenUrl,
            status: answer.status,
            ...(typeof json?.error === 'string' ? { error: json.error } : {}),
          },
        },
      );
    }
    options.onSecret?.(accessToken);
    const lifetimeMs = positiveNumber(json?.expires_in, 3600) * 1000;
    const next = typeof json?.refresh_token === 'string' ? json.refresh_token : '';
    if (grant === 'refresh_token' && next !== '' && next !== refreshToken) {
      options.onSecret?.(next);
      rotated.set(key, { configured, current: next });
      try {
        await options.refreshTokens?.rotate(account, configured, next);
      } catch (error) {
        // The access token is good; the rotated refresh token lives on in memory for now.
        options.logger?.warn(
          `account ${account.id}: could not keep the rotated refresh token: ${(error as Error)?.name ?? 'error'}: ${scrub((error as Error)?.message ?? '', [...secrets, next])}`,
        );
      }
    }
    return {
      value: accessToken,
      expiresAt: started + lifetimeMs,
      refreshAt: started + lifetimeMs - Math.min(60_000, lifetimeMs / 4),
    };
  };

  return {
    async accessToken(account, { rejected } = {}): Promise<AccessToken> {
      const key = cacheKey(account);
      const cached = cache.get(key);
      if (cached && cached.value === rejected) cache.delete(key);
      else if (cached && now() < cached.refreshAt) return { value: cached.value, fresh: false };
      let pending = inFlight.get(key);
      if (!pending) {
        pending = request(account).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      const token = await pending;
      cache.set(key, token);
      return { value: token.value, fresh: true };
    },
  };
}

/** One cache entry per identity at one endpoint: the same id with another user or client is another entry. */
function cacheKey(account: AccountConfig): string {
  const oauth2 = account.auth.oauth2;
  const { tokenUrl } = oauth2 ? oauth2Settings(oauth2) : { tokenUrl: '' };
  return [account.id, account.auth.user, tokenUrl, oauth2?.clientId ?? ''].join('\u0000');
}

export interface TokenAnswer {
  status: number;
  json: Record<string, unknown> | undefined;
}

/** POSTs a form to a token endpoint; the answer's JSON read up to 64 KiB. Shared with `oauth2-authorization.ts`. */
export async function post(
  fetchImpl: typeof fetch,
  url: string,
  body: URLSearchParams,
  timeoutMs: number,
): Promise<TokenAnswer> {
  const response = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = (await response.text()).slice(0, MAX_ANSWER_BYTES);
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

/** `invalid_grant (Token has been expired or revoked.)`, on one line, without Microsoft's trace and correlation ids. */
export function describeRefusal(status: number, json: Record<string, unknown> | undefined): string {
  if (typeof json?.error !== 'string') return `HTTP ${status}${json ? ' without an access_token' : ''}`;
  const description =
    typeof json.error_description === 'string'
      ? json.error_description
          .split(/\r?\n/)[0]!
          .replace(/\s+Trace ID:.*$/, '')
          .trim()
          .slice(0, 300)
      : '';
  return description === '' ? json.error : `${json.error} (${description})`;
}

function scrub(message: string, secrets: string[]): string {
  let out = message;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}

function positiveNumber(value: unknown, fallback: number): number {
  const number = typeof value === 'string' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number > 0 ? number : fallback;
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
}

function parseServiceAccountKey(account: string, text: string): ServiceAccountKey {
  let key: Partial<ServiceAccountKey> | undefined;
  try {
    key = JSON.parse(text) as Partial<ServiceAccountKey>;
  } catch {
    key = undefined;
  }
  if (typeof key?.client_email !== 'string' || typeof key.private_key !== 'string') {
    throw new OAuthError(
      'OAUTH_FAILED',
      `account ${account}: serviceAccountKey is not a service account's JSON key (client_email and private_key expected)`,
    );
  }
  return { client_email: key.client_email, private_key: key.private_key };
}

/**
 * The JWT a service account presents for domain-wide delegation (RFC 7523
 * 2.1, Google's "server to server" flow): `sub` is the mailbox to act for,
 * signed RS256 with the key's private key.
 */
export function signAssertion(
  key: ServiceAccountKey,
  claims: { sub: string; scope: string | undefined; aud: string; now: number },
): string {
  const iat = Math.floor(claims.now / 1000);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({
    iss: key.client_email,
    sub: claims.sub,
    aud: claims.aud,
    ...(claims.scope ? { scope: claims.scope } : {}),
    iat,
    exp: iat + 3600,
  })}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(key.private_key).toString('base64url');
  return `${unsigned}.${signature}`;
}
