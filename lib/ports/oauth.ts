/**
 * OAuth2 ports: access tokens for xoauth2/oauthbearer logins and the store
 * that keeps rotated refresh tokens.
 */
import type { AccountConfig } from '../config/schema.ts';

/** An OAuth2 access token for an account, and whether it was fetched just now (not from the cache). */
export interface AccessToken {
  value: string;
  fresh: boolean;
}

/** Access tokens for accounts that log in with `method: xoauth2` or `oauthbearer`. */
export interface AccessTokenSource {
  /**
   * A token valid for a while yet: from the cache, or from the token endpoint
   * (one request in flight per account). `rejected`: the server refused this
   * token, so it is not served again.
   */
  accessToken(account: AccountConfig, options?: { rejected?: string }): Promise<AccessToken>;
}

/**
 * Keeps the refresh tokens an endpoint rotated (a new `refresh_token` in a
 * token response): locally the state store, in AWS the secret itself.
 */
export interface RefreshTokenStore {
  /** The refresh token to use: the one kept for `configured` (the value the config's reference gave), or `configured` itself. */
  current(account: AccountConfig, configured: string): Promise<string>;
  /** Keeps `next`, which replaces the token issued from `configured`. */
  rotate(account: AccountConfig, configured: string, next: string): Promise<void>;
}
