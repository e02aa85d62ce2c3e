/**
 * A local OAuth2 authorization server for the integration tests, on loopback:
 * a token endpoint (`POST /token`, grant `refresh_token`) issuing short-lived
 * access tokens and rotating the refresh token on every use (the old one is
 * void from then on, the strictest a provider can be), and the introspection
 * endpoint (RFC 7662, `POST /introspect`) the private Dovecot's oauth2 passdb
 * asks. The global setup starts one; test files in the workers drive it over
 * its `/control/*` routes through {@link oauthControl}: grant a refresh token,
 * revoke it (the next refresh answers `invalid_grant`), void access tokens
 * early, count requests.
 */
import { randomBytes } from 'node:crypto';
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
      const next = token('rt');
      refreshTokens.set(next, grant);
      const access = token('at');
      accessTokens.set(access, {
        username: grant.username,
        clientId,
        expiresAt: Date.now() + grant.expiresIn * 1000,
      });
      return {
        status: 200,
        body: {
          access_token: access,
          token_type: 'Bearer',
          expires_in: grant.expiresIn,
          refresh_token: next,
        },
      };
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
      const route = routes[new URL(request.url ?? '/', 'http://x').pathname];
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
