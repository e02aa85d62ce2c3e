/**
 * What a valid config may still get wrong on this machine: things certain to
 * fail once a command runs, which the schema cannot know. `postroom validate`
 * prints them as `path: message` warnings after `config OK`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { keepsUnconfiguredRefreshToken } from '../adapters/local/sqlite-refresh-token-store.ts';
import { rulesUseAuth } from '../core/sender-auth.ts';
import type { PostroomConfig } from './schema.ts';

/** Warnings for `config` as it would run here (`env` for `{ env }` references). */
export function configWarnings(config: PostroomConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  const local = config.store.kind === 'local';
  walkSecretRefs(config, '', (path, ref) => {
    if ('env' in ref && env[ref.env] === undefined)
      warnings.push(`${path}: environment variable ${ref.env} is not set here`);
    if ('secret' in ref && local)
      warnings.push(
        `${path}: { secret: ${ref.secret} } is read from AWS Secrets Manager, which a local store does not use; use { env: VARIABLE } on one machine`,
      );
  });
  config.accounts.forEach((account, index) => {
    const ca = account.tlsOptions?.ca;
    if (typeof ca === 'string' && !existsSync(ca))
      warnings.push(`accounts[${index}].tlsOptions.ca: no file ${ca}`);
    const oauth2 = account.auth.oauth2;
    if (
      oauth2 &&
      (oauth2.grant ?? 'refresh_token') === 'refresh_token' &&
      oauth2.refreshToken === undefined
    ) {
      const kept =
        config.store.kind === 'local' &&
        keepsUnconfiguredRefreshToken(join(config.store.dir, 'postroom.db'), account.id);
      if (!kept)
        warnings.push(
          `accounts[${index}].auth.oauth2.refreshToken: not set, and the state store keeps none for account ` +
            `${account.id}: run postroom oauth login --account ${account.id} (or set refreshToken)`,
        );
    }
  });
  warnings.push(...authSourceWarnings(config));
  return warnings;
}

type Ref = { env: string } | { secret: string };

/** Calls `visit` with the path of every secret reference (`{ env }` or `{ secret }` alone) in `value`. */
function walkSecretRefs(value: unknown, path: string, visit: (path: string, ref: Ref) => void): void {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) walkSecretRefs(item, `${path}[${index}]`, visit);
    return;
  }
  if (!value || typeof value !== 'object') return;
  const entries = Object.entries(value);
  const [only] = entries;
  if (
    entries.length === 1 &&
    only &&
    (only[0] === 'env' || only[0] === 'secret') &&
    typeof only[1] === 'string'
  ) {
    visit(path, value as Ref);
    return;
  }
  for (const [key, child] of entries) walkSecretRefs(child, path === '' ? key : `${path}.${key}`, visit);
}

/**
 * `auth` conditions on an account that has neither `authservId` nor
 * `verifyAuth`: no verdict can be trusted there, so they are always false.
 */
function authSourceWarnings(config: PostroomConfig): string[] {
  return config.accounts.flatMap((account, index) => {
    if (account.authservId !== undefined || account.verifyAuth === true) return [];
    const mailboxes = account.mailboxes.map((m) => (typeof m === 'string' ? m : m.name));
    const used = mailboxes.some((mailbox) => rulesUseAuth(config.rules, { account: account.id, mailbox }));
    return used
      ? [
          `accounts[${index}]: rules test auth, but the account has neither authservId nor verifyAuth: every verdict is none there (auth: { dmarc: pass } is never true)`,
        ]
      : [];
  });
}
