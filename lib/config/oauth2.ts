/**
 * OAuth2 for IMAP (`auth.method: xoauth2 | oauthbearer`): the provider
 * presets (token endpoint, scope, grant) and the rules saying which keys each
 * grant needs. Pure: the schema calls `oauth2Problems`, the token source calls
 * `oauth2Settings`.
 */

/** How an access token is obtained (RFC 6749 6, RFC 6749 4.4, RFC 7523 2.1). */
export type OAuth2Grant = 'refresh_token' | 'client_credentials' | 'jwt_bearer';
export type OAuth2Provider = 'google' | 'microsoft' | 'custom';

/** The account's `auth` as the schema reads it, before presets apply. */
export interface AuthInput {
  user: string;
  method: 'login' | 'plain' | 'xoauth2' | 'oauthbearer';
  password?: unknown;
  oauth2?: OAuth2Input | undefined;
}

export interface OAuth2Input {
  provider: OAuth2Provider;
  grant?: OAuth2Grant | undefined;
  clientId?: string | undefined;
  clientSecret?: unknown;
  refreshToken?: unknown;
  tenant?: string | undefined;
  serviceAccountKey?: unknown;
  tokenUrl?: string | undefined;
  authorizeUrl?: string | undefined;
  scope?: string | undefined;
}

/** What the token source needs once the presets are applied. */
export interface OAuth2Settings {
  grant: OAuth2Grant;
  tokenUrl: string;
  /** Absent: the token endpoint's default (a custom provider without `scope`). */
  scope?: string;
}

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const GOOGLE_SCOPE = 'https://mail.google.com/';
/** Delegated access for a signed-in user; `offline_access` is what returns a refresh token. */
export const MICROSOFT_DELEGATED_SCOPE = 'https://outlook.office.com/IMAP.AccessAsUser.All offline_access';
/** App-only access: the permissions granted to the app registration (IMAP.AccessAsApp). */
export const MICROSOFT_APP_SCOPE = 'https://outlook.office365.com/.default';

export function microsoftTokenUrl(tenant: string): string {
  return `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
}

/** Where a user signs in and consents (`postroom oauth login`, RFC 6749 4.1.1). */
export const GOOGLE_AUTHORIZE_URL = 'https://accounts.google.com/o/oauth2/v2/auth';

export function microsoftAuthorizeUrl(tenant: string): string {
  return `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0/authorize`;
}

/**
 * The authorization endpoint for `postroom oauth login`, with the query
 * parameters the provider needs to return a refresh token: Google returns one
 * only with `access_type=offline` (and again only with `prompt=consent`);
 * Microsoft with the `offline_access` scope, already in its preset. Undefined
 * for a custom provider without `authorizeUrl`.
 */
export function oauth2AuthorizeEndpoint(
  oauth2: OAuth2Input,
): { url: string; extra: Record<string, string> } | undefined {
  if (oauth2.authorizeUrl !== undefined) return { url: oauth2.authorizeUrl, extra: {} };
  if (oauth2.provider === 'google') {
    return { url: GOOGLE_AUTHORIZE_URL, extra: { access_type: 'offline', prompt: 'consent' } };
  }
  if (oauth2.provider === 'microsoft')
    return { url: microsoftAuthorizeUrl(oauth2.tenant ?? 'common'), extra: {} };
  return undefined;
}

/** The grant when the config names none: every provider's interactive default. */
export const DEFAULT_GRANT: OAuth2Grant = 'refresh_token';

/** Presets applied: the token endpoint, scope and grant for this account. */
export function oauth2Settings(oauth2: OAuth2Input): OAuth2Settings {
  const grant = oauth2.grant ?? DEFAULT_GRANT;
  let tokenUrl = oauth2.tokenUrl;
  let scope = oauth2.scope;
  if (oauth2.provider === 'google') {
    tokenUrl ??= GOOGLE_TOKEN_URL;
    scope ??= GOOGLE_SCOPE;
  } else if (oauth2.provider === 'microsoft') {
    tokenUrl ??= microsoftTokenUrl(oauth2.tenant ?? 'common');
    scope ??= grant === 'client_credentials' ? MICROSOFT_APP_SCOPE : MICROSOFT_DELEGATED_SCOPE;
  }
  return { grant, tokenUrl: tokenUrl ?? '', ...(scope === undefined ? {} : { scope }) };
}

/** Keys each grant needs, and those it does not use. */
const GRANT_KEYS: Record<OAuth2Grant, { needs: (keyof OAuth2Input)[]; unused: (keyof OAuth2Input)[] }> = {
  // No refreshToken needed: `postroom oauth login` may keep it in the local state store.
  refresh_token: { needs: ['clientId'], unused: ['serviceAccountKey'] },
  client_credentials: { needs: ['clientId', 'clientSecret'], unused: ['refreshToken', 'serviceAccountKey'] },
  jwt_bearer: { needs: ['serviceAccountKey'], unused: ['refreshToken', 'clientSecret'] },
};

const GRANT_HINT: Record<OAuth2Grant, string> = {
  refresh_token:
    'grant refresh_token needs clientId, and refreshToken or a token kept by postroom oauth login (clientSecret for a confidential client)',
  client_credentials: 'grant client_credentials needs clientId and clientSecret',
  jwt_bearer: "grant jwt_bearer needs serviceAccountKey (the service account's JSON key)",
};

export interface AuthProblem {
  /** Relative to the account's `auth`. */
  path: (string | number)[];
  message: string;
}

/**
 * What is missing or contradictory in an account's `auth`: a password with
 * the password methods, an `oauth2` section with the OAuth2 ones, and the keys
 * its grant needs.
 */
export function oauth2Problems(auth: AuthInput): AuthProblem[] {
  const problems: AuthProblem[] = [];
  const oauthMethod = auth.method === 'xoauth2' || auth.method === 'oauthbearer';
  if (!oauthMethod) {
    if (auth.password === undefined)
      problems.push({
        path: ['password'],
        message: `required with method ${auth.method} (or use method: xoauth2 or oauthbearer with oauth2)`,
      });
    if (auth.oauth2 !== undefined)
      problems.push({
        path: ['oauth2'],
        message: `only used with method xoauth2 or oauthbearer, not ${auth.method}`,
      });
    return problems;
  }
  if (auth.password !== undefined)
    problems.push({
      path: ['password'],
      message: `not used with method ${auth.method} (the oauth2 section gets the token): remove it`,
    });
  const oauth2 = auth.oauth2;
  if (oauth2 === undefined) {
    problems.push({
      path: ['oauth2'],
      message: `required with method ${auth.method}: { provider: google | microsoft | custom, grant, clientId, ... }`,
    });
    return problems;
  }
  const grant = oauth2.grant ?? DEFAULT_GRANT;
  const at = (key: keyof OAuth2Input, message: string) => problems.push({ path: ['oauth2', key], message });
  for (const key of GRANT_KEYS[grant].needs)
    if (oauth2[key] === undefined) at(key, `required: ${GRANT_HINT[grant]}`);
  for (const key of GRANT_KEYS[grant].unused)
    if (oauth2[key] !== undefined) at(key, `not used with grant ${grant}: remove it`);
  if (oauth2.provider === 'microsoft') {
    if (oauth2.tenant === undefined)
      at(
        'tenant',
        'required for provider microsoft: the directory (tenant) id or domain, e.g. contoso.onmicrosoft.com',
      );
    if (grant === 'jwt_bearer')
      at(
        'grant',
        'provider microsoft takes refresh_token or client_credentials (jwt_bearer is Google service accounts)',
      );
  } else if (oauth2.tenant !== undefined) {
    at('tenant', 'only used with provider microsoft');
  }
  if (oauth2.provider === 'google' && grant === 'client_credentials')
    at(
      'grant',
      'provider google takes refresh_token or jwt_bearer (a service account with domain-wide delegation)',
    );
  if (oauth2.provider === 'custom' && oauth2.tokenUrl === undefined)
    at('tokenUrl', 'required for provider custom: the token endpoint URL');
  return problems;
}
