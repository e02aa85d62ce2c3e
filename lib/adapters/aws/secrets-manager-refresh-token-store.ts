/**
 * Rotated OAuth2 refresh tokens written back to the secret the config names
 * (`auth.oauth2.refreshToken: { secret }`) with `PutSecretValue`, so every
 * container reads the newest one. The construct grants `PutSecretValue` on
 * exactly those secrets. Other containers may read the previous value for as
 * long as their secret cache lives (5 minutes): providers that rotate keep the
 * previous refresh token valid (Microsoft does), and the token source keeps
 * the newest in memory.
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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

  async current(_account: AccountConfig, configured: string): Promise<string> {
    return configured;
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
