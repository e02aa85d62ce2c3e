/**
 * A password kept in Secrets Manager is cached for an hour in a warm Lambda
 * (`lib/adapters/aws/secrets.ts`). When it was changed in the meantime, the
 * server refuses the cached value: the runtime then reads the secret once more
 * past the cache and logs in with the new value; a value that did not change
 * is not tried twice. Against the private Dovecot, with the secret reader
 * standing in for Secrets Manager (the cache is its business, not this test's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLocalStores } from '#lib/composition/local.ts';
import { composeRuntime } from '#lib/composition/runtime.ts';
import { configSchema } from '#lib/config/schema.ts';
import type { SecretFetcher } from '#lib/config/secrets.ts';
import { dovecotInfo, freshUser, testAccount } from '../helpers/dovecot.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A secret whose cached value is `cached` and whose current value is `current`. */
function rotatedSecret(cached: string, current: string): { fetch: SecretFetcher; reads: boolean[] } {
  const reads: boolean[] = [];
  const fetch: SecretFetcher = async (_name, options) => {
    reads.push(options?.fresh === true);
    return options?.fresh ? current : cached;
  };
  return { fetch, reads };
}

/** A runtime over fresh local stores, for a fresh Dovecot user whose password is read through `secretFor`. */
function runtimeWith(secretFor: (password: string) => SecretFetcher) {
  const info = dovecotInfo();
  const user = freshUser(info);
  const fetchSecret = secretFor(user.password);
  const dir = mkdtempSync(join(tmpdir(), 'postroom-password-rotation-'));
  dirs.push(dir);
  const account = {
    ...testAccount(info, user),
    auth: { user: user.user, password: { secret: 'imap/test' } },
  };
  const config = configSchema.parse({ accounts: [], store: { kind: 'local', dir } });
  config.accounts.push(account as (typeof config.accounts)[number]);
  const runtime = composeRuntime(config, {
    logger: silent,
    stores: openLocalStores({ kind: 'local', dir }, 5),
    fetchSecret,
    sessionIdleMs: 0,
  });
  return { runtime, account: config.accounts[0]! };
}

describe('a password changed while its secret was cached', () => {
  it('is read again past the cache after the server refuses the cached one, and the login succeeds', async () => {
    let secret!: ReturnType<typeof rotatedSecret>;
    const { runtime, account } = runtimeWith((password) => {
      secret = rotatedSecret('the-old-password', password);
      return secret.fetch;
    });
    try {
      const session = await runtime.openSession(account);
      expect((await session.examine('INBOX')).uidValidity).toBeGreaterThan(0);
      await session.logout();
      expect(secret.reads).toEqual([false, true]);
    } finally {
      await runtime.close();
    }
  });

  it('is not tried a second time when the secret still holds the refused value', async () => {
    const secret = rotatedSecret('not-the-password', 'not-the-password');
    const { runtime, account } = runtimeWith(() => secret.fetch);
    try {
      await expect(runtime.openSession(account)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      expect(secret.reads).toEqual([false, true]);
    } finally {
      await runtime.close();
    }
  });
});
