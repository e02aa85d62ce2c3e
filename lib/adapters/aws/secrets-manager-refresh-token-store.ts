/**
 * Rotated OAuth2 refresh tokens written back to the secret the config names
 * (`auth.oauth2.refreshToken: { secret }`) with `PutSecretValue`, so every
 * container reads the newest one. The construct grants `PutSecretValue` on
 * exactly those secrets. Every refresh reads the secret afresh (`current`),
 * not through the 5-minute cache of other secret reads, so a container never
 * presents a refresh token another container has already rotated away.
 */
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AccountConfig } from '../../config/schema.ts';
import { SecretError } from '../../errors.ts';
import type { RefreshTokenStore } from '../../ports.ts';
import { awsClientConfig } from './clients.ts';

export interface SecretsManagerRefreshTokenStoreOptions {
  /** @default a client from the environment */
  client?: SecretsManagerClient;
}

/** `RefreshTokenStore` over Secrets Manager: the secret is the store. */
export class SecretsManagerRefreshTokenStore implements RefreshTokenStore {
  #client: SecretsManagerClient | undefined;

  constructor(options: SecretsManagerRefreshTokenStoreOptions = {}) {
    this.#client = options.client;
  }

  /**
   * The secret's value read now, past the 5-minute cache every other secret
   * read goes through: another container may have rotated the token and
   * written it back since. Once per token refresh, so about once an hour per
   * account.
   */
  async current(account: AccountConfig, configured: string): Promise<string> {
    const ref = account.auth.oauth2?.refreshToken;
    if (!ref || !('secret' in ref)) return configured;
    try {
      this.#client ??= new SecretsManagerClient(awsClientConfig());
      const answer = await this.#client.send(new GetSecretValueCommand({ SecretId: ref.secret }));
      return answer.SecretString || configured;
    } catch (error) {
      throw new SecretError(`secret ${ref.secret} could not be read: ${(error as Error).name}`, {
        cause: error,
        context: { secret: ref.secret },
      });
    }
  }

  async rotate(account: AccountConfig, _configured: string, next: string): Promise<void> {
    const ref = account.auth.oauth2?.refreshToken;
    if (!ref || !('secret' in ref)) {
      throw new SecretError(
        `account ${account.id}: the rotated refresh token cannot be written back to an environment variable`,
      );
    }
    try {
      this.#client ??= new SecretsManagerClient(awsClientConfig());
      await this.#client.send(new PutSecretValueCommand({ SecretId: ref.secret, SecretString: next }));
    } catch (error) {
      throw new SecretError(`secret ${ref.secret} could not be written: ${(error as Error).name}`, {
        cause: error,
        context: { secret: ref.secret },
      });
    }
  }
}
