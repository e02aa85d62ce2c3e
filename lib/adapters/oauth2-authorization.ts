/**
 * The OAuth2 authorization-code flow with PKCE (RFC 6749 4.1, RFC 7636 S256)
 * and a loopback redirect (RFC 8252 7.3), for `postroom oauth login`: the
 * first refresh token of an account, without writing code.
 *
 * A listener on `http://127.0.0.1:<random port>/callback` waits, for a
 * bounded time, for the browser to come back with a code and the `state`
 * this flow made up (anything else is answered 400 and ignored); the code is
 * exchanged at the token endpoint with the PKCE verifier. Nothing is opened
 * on the user's behalf: the caller prints the URL. Token values are returned,
 * never logged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { oauth2AuthorizeEndpoint, oauth2Settings } from '../config/oauth2.ts';
import type { AccountConfig } from '../config/schema.ts';
import { OAuthError } from '../errors.ts';
import { describeRefusal, post } from './oauth2-token-source.ts';

export interface AuthorizationCodeOptions {
  account: AccountConfig;
  /** The resolved client secret, for a confidential client. */
  clientSecret?: string | undefined;
  /** How long to wait for the browser to come back. */
  timeoutMs: number;
  /** Called once with the URL to open and the redirect URI it returns to. */
  onAuthorizeUrl(url: string, redirectUri: string): void;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

export interface AuthorizationResult {
  refreshToken: string;
  /** The scopes granted, when the endpoint says. */
  scope?: string;
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><p>${text}</p>`;

/** Runs the flow once; resolves with the refresh token the token endpoint issued. */
export async function authorizationCodeLogin(
  options: AuthorizationCodeOptions,
): Promise<AuthorizationResult> {
  const { account } = options;
  const oauth2 = account.auth.oauth2;
  if (!oauth2) throw new OAuthError('OAUTH_FAILED', `account ${account.id}: no auth.oauth2 section`);
  const endpoint = oauth2AuthorizeEndpoint(oauth2);
  if (!endpoint) {
    throw new OAuthError(
      'OAUTH_FAILED',
      `account ${account.id}: auth.oauth2.authorizeUrl is needed for provider custom (the authorization endpoint)`,
    );
  }
  const { tokenUrl, scope } = oauth2Settings(oauth2);
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');

  let settle: { resolve(code: string): void; reject(error: Error): void } | undefined;
  const answered = new Promise<string>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const reply = (status: number, title: string, text: string) => {
      response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(PAGE(title, text));
    };
    if (request.method !== 'GET' || url.pathname !== '/callback')
      return reply(404, 'Not found', 'Not found.');
    // Not this flow's redirect (a stale tab, another site): refused, and the flow keeps waiting.
    if (url.searchParams.get('state') !== state) {
      return reply(400, 'Postroom', 'This answer does not belong to the sign-in Postroom is waiting for.');
    }
    const error = url.searchParams.get('error');
    if (error) {
      reply(400, 'Postroom', 'Sign-in was not completed. You can close this tab.');
      const description = (url.searchParams.get('error_description') ?? '').split(/\r?\n/)[0]!.slice(0, 300);
      return settle?.reject(
        new OAuthError(
          'OAUTH_FAILED',
          `account ${account.id}: the authorization server answered ${error}${description ? ` (${description})` : ''}`,
        ),
      );
    }
    const code = url.searchParams.get('code');
    if (!code) return reply(400, 'Postroom', 'The answer has no authorization code.');
    reply(200, 'Postroom', 'Signed in: Postroom has what it needs. You can close this tab.');
    settle?.resolve(code);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const timer = setTimeout(() => {
    settle?.reject(
      new OAuthError(
        'OAUTH_FAILED',
        `account ${account.id}: no sign-in came back within ${Math.round(options.timeoutMs / 1000)} s (--timeout)`,
      ),
    );
  }, options.timeoutMs);
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const authorize = new URL(endpoint.url);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: oauth2.clientId ?? '',
      redirect_uri: redirectUri,
      ...(scope ? { scope } : {}),
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      // Which account to sign in as: the mailbox the config names.
      login_hint: account.auth.user,
      ...endpoint.extra,
    };
    for (const [key, value] of Object.entries(params)) authorize.searchParams.set(key, value);
    options.onAuthorizeUrl(authorize.toString(), redirectUri);
    const code = await answered;
    return await exchange(options, tokenUrl, { code, redirectUri, verifier });
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The code for tokens (RFC 6749 4.1.3, RFC 7636 4.5). */
async function exchange(
  options: AuthorizationCodeOptions,
  tokenUrl: string,
  flow: { code: string; redirectUri: string; verifier: string },
): Promise<AuthorizationResult> {
  const { account } = options;
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: flow.code,
    redirect_uri: flow.redirectUri,
    client_id: account.auth.oauth2?.clientId ?? '',
    code_verifier: flow.verifier,
  });
  if (options.clientSecret) body.set('client_secret', options.clientSecret);
  const answer = await post(options.fetch ?? globalThis.fetch, tokenUrl, body, 30_000).catch(
    (error: unknown) => {
      throw new OAuthError(
        'OAUTH_UNAVAILABLE',
        `account ${account.id}: token endpoint ${tokenUrl} could not be reached: ${(error as Error)?.message ?? String(error)}`,
      );
    },
  );
  const refreshToken = typeof answer.json?.refresh_token === 'string' ? answer.json.refresh_token : '';
  if (answer.status >= 400 || refreshToken === '') {
    const why =
      answer.status < 400 && answer.json
        ? 'no refresh_token in the answer (Google: access_type=offline; Microsoft: the offline_access scope)'
        : describeRefusal(answer.status, answer.json);
    throw new OAuthError(
      'OAUTH_FAILED',
      `account ${account.id}: token endpoint ${tokenUrl} refused the authorization code: ${why}`,
    );
  }
  const granted = answer.json?.scope;
  return { refreshToken, ...(typeof granted === 'string' ? { scope: granted } : {}) };
}
