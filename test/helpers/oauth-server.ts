/**
 * A local OAuth2 authorization server for the integration tests, on loopback:
 * an authorization endpoint (`GET /authorize`: PKCE S256 required, a loopback
 * redirect only; it signs in the `login_hint` user at once and redirects back
 * with a one-time code), a token endpoint (`POST /token`, grants
 * `authorization_code`, checking the PKCE verifier, and `refresh_token`) issuing short-lived
 * access tokens and rotating the refresh token on every use (the old one is
 * void from then on, the strictest a provider can be), and the introspection
 * endpoint (RFC 7662, `POST /introspect`) the private Dovecot's oauth2 passdb
 * asks. The global setup starts one; test files in the workers drive it over
 * its `/control/*` routes through {@link oauthControl}: grant a refresh token,
 * revoke it (the next refresh answers `invalid_grant`), void access tokens
 * early, count requests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface OAuthServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  stop(): Promise<void>;
}

interface Grant {
  username: string;
  clientId: string;
  expiresIn: number;
  active: boolean;
}

interface AuthorizationCode {
  username: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
}

interface Stats {
  tokenRequests: number;
  refused: number;
  introspections: number;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

export async function startOAuthServer(): Promise<OAuthServer> {
  const refreshTokens = new Map<string, Grant>();
  const accessTokens = new Map<string, { username: string; clientId: string; expiresAt: number }>();
  const stats = new Map<string, Stats>();
  const codes = new Map<string, AuthorizationCode>();
  /** Issues an access token and a refresh token carrying `grant` on. */
  const issue = (grant: Grant) => {
    const next = token('rt');
    refreshTokens.set(next, grant);
    const access = token('at');
    accessTokens.set(access, {
      username: grant.username,
      clientId: grant.clientId,
      expiresAt: Date.now() + grant.expiresIn * 1000,
    });
    return {
      status: 200,
      body: { access_token: access, token_type: 'Bearer', expires_in: grant.expiresIn, refresh_token: next },
    };
  };
  /** RFC 6749 4.1.3 with RFC 7636 4.6: the code once, by its client, with its redirect URI and verifier. */
  const redeem = (form: URLSearchParams, counted: Stats) => {
    const code = codes.get(form.get('code') ?? '');
    codes.delete(form.get('code') ?? '');
    const verifier = form.get('code_verifier') ?? '';
    const ok =
      code !== undefined &&
      code.clientId === (form.get('client_id') ?? '') &&
      code.redirectUri === form.get('redirect_uri') &&
      createHash('sha256').update(verifier).digest('base64url') === code.challenge;
    if (!ok) {
      counted.refused += 1;
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Bad authorization code.' } };
    }
    return issue({ username: code.username, clientId: code.clientId, expiresIn: 3600, active: true });
  };
  /** `GET /authorize`: the user (`login_hint`) consents at once; the answer is a redirect. */
  const authorize = (query: URLSearchParams): { status: number; location?: string } => {
    const redirectUri = query.get('redirect_uri') ?? '';
    if (!/^http:\/\/127\.0\.0\.1:\d+\/callback$/.test(redirectUri)) return { status: 400 };
    const back = new URL(redirectUri);
    back.searchParams.set('state', query.get('state') ?? '');
    const challenge = query.get('code_challenge') ?? '';
    if (
      query.get('response_type') !== 'code' ||
      query.get('code_challenge_method') !== 'S256' ||
      challenge === ''
    ) {
      back.searchParams.set('error', 'invalid_request');
      back.searchParams.set('error_description', 'PKCE with S256 is required.');
      return { status: 302, location: back.toString() };
    }
    const code = token('code');
    codes.set(code, {
      username: query.get('login_hint') ?? '',
      clientId: query.get('client_id') ?? '',
      redirectUri,
      challenge,
    });
    back.searchParams.set('code', code);
    return { status: 302, location: back.toString() };
  };
  const statsOf = (clientId: string) => {
    const entry = stats.get(clientId) ?? { tokenRequests: 0, refused: 0, introspections: 0 };
    stats.set(clientId, entry);
    return entry;
  };

  const routes: Partial<Record<string, (form: URLSearchParams) => { status: number; body: unknown }>> = {
    '/token': (form) => {
      const clientId = form.get('client_id') ?? '';
      const counted = statsOf(clientId);
      counted.tokenRequests += 1;
      const grant = refreshTokens.get(form.get('refresh_token') ?? '');
      if (form.get('grant_type') === 'authorization_code') return redeem(form, counted);
      if (form.get('grant_type') !== 'refresh_token') {
        counted.refused += 1;
        return { status: 400, body: { error: 'unsupported_grant_type' } };
      }
      if (!grant?.active || grant.clientId !== clientId) {
        counted.refused += 1;
        return {
          status: 400,
          body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
        };
      }
      // Rotation: the refresh token just used is void, its successor carries the grant on.
      refreshTokens.delete(form.get('refresh_token')!);
      return issue(grant);
    },
    '/introspect': (form) => {
      const access = accessTokens.get(form.get('token') ?? '');
      if (access) statsOf(access.clientId).introspections += 1;
      if (!access || Date.now() >= access.expiresAt) return { status: 200, body: { active: false } };
      return { status: 200, body: { active: true, username: access.username } };
    },
    '/control/grant': (form) => {
      const refresh = token('rt');
      refreshTokens.set(refresh, {
        username: form.get('username') ?? '',
        clientId: form.get('clientId') ?? '',
        expiresIn: Number(form.get('expiresIn') ?? 3600),
        active: true,
      });
      return { status: 200, body: { refreshToken: refresh } };
    },
    '/control/revoke': (form) => {
      for (const grant of refreshTokens.values())
        if (grant.clientId === form.get('clientId')) grant.active = false;
      return { status: 200, body: {} };
    },
    '/control/void-access-tokens': (form) => {
      for (const [value, access] of accessTokens)
        if (access.clientId === form.get('clientId')) accessTokens.delete(value);
      return { status: 200, body: {} };
    },
    '/control/stats': (form) => ({ status: 200, body: statsOf(form.get('clientId') ?? '') }),
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://x');
      if (url.pathname === '/authorize' && request.method === 'GET') {
        const answer = authorize(url.searchParams);
        response.writeHead(answer.status, answer.location ? { location: answer.location } : {});
        response.end();
        return;
      }
      const route = routes[url.pathname];
      const answer =
        route && request.method === 'POST'
          ? route(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
          : { status: 404, body: { error: 'not_found' } };
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Drives a running {@link startOAuthServer} from any process (a vitest worker). */
export function oauthControl(url: string) {
  const call = async <T>(route: string, fields: Record<string, string | number>): Promise<T> => {
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url))
      throw new Error(`refusing a non-loopback OAuth server: ${url}`);
    const body = new URLSearchParams(
      Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)]),
    );
    const response = await fetch(`${url}${route}`, { method: 'POST', body });
    return (await response.json()) as T;
  };
  return {
    tokenUrl: `${url}/token`,
    authorizeUrl: `${url}/authorize`,
    /** A refresh token for `username`, usable by `clientId`; its access tokens live `expiresIn` seconds. */
    grant: async (username: string, clientId: string, expiresIn = 3600) =>
      (await call<{ refreshToken: string }>('/control/grant', { username, clientId, expiresIn }))
        .refreshToken,
    /** The client's refresh tokens answer `invalid_grant` from now on. */
    revoke: (clientId: string) => call('/control/revoke', { clientId }),
    /** The client's access tokens are inactive from now on (a server-side revocation). */
    voidAccessTokens: (clientId: string) => call('/control/void-access-tokens', { clientId }),
    stats: (clientId: string) => call<Stats>('/control/stats', { clientId }),
  };
}
