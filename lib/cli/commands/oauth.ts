/**
 * `postroom oauth login --account ID`: signs the account's mailbox in with
 * the authorization-code flow (PKCE, loopback redirect) and keeps the
 * refresh token where the config points:
 *
 * - `auth.oauth2.refreshToken: { secret: NAME }`: written to that secret
 *   (`PutSecretValue`, AWS credentials from the environment), for a
 *   deployment or a local run with `store.kind: aws`;
 * - no `refreshToken` and `store.kind: local`: kept in the state store
 *   (`<store.dir>/postroom.db`), where the token source finds it and keeps
 *   its rotations;
 * - `{ env: NAME }` is refused before anything starts: a process cannot
 *   write its caller's environment.
 *
 * The token value is never printed; the URL to open is, on stderr.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { authorizationCodeLogin } from '../../adapters/oauth2-authorization.ts';
import { loadConfig } from '../../config/load.ts';
import type { AccountConfig, PostroomConfig, SecretRef } from '../../config/schema.ts';
import { resolveSecret } from '../../config/secrets.ts';
import { ConfigError } from '../../errors.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';
import { sharedRedactor } from '../output.ts';

interface OAuthLoginOptions extends GlobalOptions {
  account: string;
  timeout: string;
}

/** Where the refresh token goes. */
type Destination = { kind: 'secret'; secret: string } | { kind: 'state-store'; file: string };

/** Where `account`'s refresh token is kept, or the `path: message` lines saying why it cannot be. */
export function refreshTokenDestination(config: PostroomConfig, index: number): Destination {
  const account = config.accounts[index]!;
  const at = `accounts[${index}].auth`;
  const oauth2 = account.auth.oauth2;
  if (!oauth2 || (account.auth.method !== 'xoauth2' && account.auth.method !== 'oauthbearer')) {
    throw new ConfigError(`account ${account.id} does not log in with OAuth2`, [
      `${at}.method: postroom oauth login needs method xoauth2 or oauthbearer with an oauth2 section`,
    ]);
  }
  const grant = oauth2.grant ?? 'refresh_token';
  if (grant !== 'refresh_token') {
    throw new ConfigError(`account ${account.id} needs no sign-in`, [
      `${at}.oauth2.grant: ${grant} gets tokens without a user's consent; postroom oauth login is for refresh_token`,
    ]);
  }
  const ref = oauth2.refreshToken;
  if (ref && 'secret' in ref) return { kind: 'secret', secret: ref.secret };
  if (ref) {
    throw new ConfigError(`postroom oauth login cannot write environment variable ${ref.env}`, [
      `${at}.oauth2.refreshToken: { env: ${ref.env} } cannot be written by postroom oauth login: remove refreshToken ` +
        'to keep the token in the local state store, or use { secret: NAME } (AWS Secrets Manager)',
    ]);
  }
  if (config.store.kind !== 'local') {
    throw new ConfigError(`account ${account.id}: nowhere to keep the refresh token`, [
      `${at}.oauth2.refreshToken: required with store kind aws: { secret: NAME } (postroom oauth login writes it)`,
    ]);
  }
  return { kind: 'state-store', file: join(config.store.dir, 'postroom.db') };
}

async function store(account: AccountConfig, destination: Destination, token: string): Promise<void> {
  // '' is the configured value a state-store token descends from (no reference in the config).
  if (destination.kind === 'state-store') {
    const { openDatabase } = await import('../../adapters/local/sqlite.ts');
    const { SqliteRefreshTokenStore } = await import('../../adapters/local/sqlite-refresh-token-store.ts');
    await new SqliteRefreshTokenStore({ db: openDatabase(destination.file) }).rotate(account, '', token);
    return;
  }
  const { SecretsManagerRefreshTokenStore } = await import(
    '../../adapters/aws/secrets-manager-refresh-token-store.ts'
  );
  await new SecretsManagerRefreshTokenStore().rotate(account, '', token);
}

async function clientSecretOf(account: AccountConfig): Promise<string | undefined> {
  const ref: SecretRef | undefined = account.auth.oauth2?.clientSecret;
  if (!ref) return undefined;
  const { fetchSecretFromSecretsManager } = await import('../../adapters/aws/secrets.ts');
  const value = await resolveSecret(ref, { fetchSecret: fetchSecretFromSecretsManager });
  sharedRedactor.add(value);
  return value;
}

export function registerOAuth(program: Command): void {
  const oauth = program.command('oauth').summary('OAuth2 for IMAP accounts: get the first refresh token');
  addCommonOptions(
    oauth
      .command('login')
      .summary("sign an account's mailbox in and keep its refresh token")
      .description(
        'Runs the OAuth2 authorization-code flow with PKCE for one account: prints the URL to open in a ' +
          'browser, waits on http://127.0.0.1:<random port>/callback for the sign-in to come back (register ' +
          'that loopback redirect with the app), exchanges the code at the token endpoint and keeps the refresh ' +
          'token where the config points: the secret auth.oauth2.refreshToken names ({ secret }, PutSecretValue), ' +
          'or with no refreshToken the local state store. The token is never printed.',
      )
      .requiredOption('-a, --account <id>', 'the account to sign in')
      .option('--timeout <seconds>', 'how long to wait for the browser', '300')
      .addHelpText(
        'after',
        `
Examples:
  $ postroom oauth login --config postroom.yaml --account support
  open this URL in a browser and sign in as support@example.com:
    https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=...
  refresh token for account support kept in the state store (.postroom/postroom.db)`,
      ),
  ).action(async (options: OAuthLoginOptions) => {
    const terminal = terminalFor(options);
    const timeoutSeconds = Number(options.timeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 3600) {
      throw new ConfigError('bad --timeout', ['--timeout: expected seconds between 1 and 3600']);
    }
    const config = await loadConfig(options.config);
    const index = config.accounts.findIndex((a) => a.id === options.account);
    if (index < 0) {
      throw new ConfigError(`no account "${options.account}" in ${options.config}`, [
        `--account: expected one of ${config.accounts.map((a) => a.id).join(', ') || '(no accounts configured)'}`,
      ]);
    }
    const account = config.accounts[index]!;
    const destination = refreshTokenDestination(config, index);
    const clientSecret = await clientSecretOf(account);
    const result = await authorizationCodeLogin({
      account,
      clientSecret,
      timeoutMs: timeoutSeconds * 1000,
      onAuthorizeUrl: (url) => {
        // Always shown, whatever the log level: without it nothing can happen.
        process.stderr.write(`open this URL in a browser and sign in as ${account.auth.user}:\n  ${url}\n`);
        process.stderr.write(`waiting up to ${timeoutSeconds} s for the sign-in to come back\n`);
      },
    });
    sharedRedactor.add(result.refreshToken);
    await store(account, destination, result.refreshToken);
    const where =
      destination.kind === 'secret'
        ? `written to secret ${destination.secret}`
        : `kept in the state store (${destination.file})`;
    if (options.json) {
      terminal.json({
        account: account.id,
        stored: destination.kind,
        ...(destination.kind === 'secret' ? { secret: destination.secret } : { file: destination.file }),
        ...(result.scope ? { scope: result.scope } : {}),
      });
    } else {
      terminal.print(`refresh token for account ${account.id} ${where}`);
    }
  });
}
