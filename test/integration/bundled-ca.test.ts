/**
 * `tlsOptions.ca` as a deployed function sees it: `cdk synth` bundles the CA
 * file's certificates into the config (`withBundledCa`), the handler loads
 * that config (`loadConfigFromEnvironment`) and verifies the private Dovecot's
 * certificate with them, with no CA file left on disk. A wrong CA fails, so
 * the verification is real.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { loadConfigFromEnvironment } from '#lib/config/environment.ts';
import { type AccountConfig, configSchema, type PostroomConfig } from '#lib/config/schema.ts';
import { validatedConfigFile } from '#lib/config/validated-file.ts';
import { withBundledCa } from '../../infra/bundled-ca.ts';
import { dovecotInfo, freshUser, testAccount } from '../helpers/dovecot.ts';
import { FIXTURE_CA_FILE } from '../infra/helpers.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A local-store config holding `account`, as `cdk synth` would validate it. */
function configWith(account: AccountConfig, dir: string): PostroomConfig {
  const config = configSchema.parse({ accounts: [], store: { kind: 'local', dir } });
  config.accounts.push(account);
  return config;
}

/** Writes the bundle's config file as the construct does, and loads it as the handler does. */
async function asLambdaLoadsIt(config: PostroomConfig, dir: string): Promise<PostroomConfig> {
  const file = join(dir, 'postroom.config.json');
  writeFileSync(file, JSON.stringify(validatedConfigFile(withBundledCa(config))));
  return loadConfigFromEnvironment({ POSTROOM_CONFIG_FILE: file });
}

async function examineInbox(config: PostroomConfig, password: string): Promise<number> {
  const runtime = await openRuntime(config, {
    logger: silent,
    env: { ...process.env, POSTROOM_TEST_PASSWORD: password },
  });
  try {
    const server = await runtime.openSession(config.accounts[0]!);
    const state = await server.examine('INBOX');
    await server.logout();
    return state.uidValidity;
  } finally {
    await runtime.close();
  }
}

describe('a private-CA server from a deployed function', () => {
  it('verifies the server with the bundled certificates after the CA file is gone', async () => {
    // Prepare: the CA file exists at synth only
    const info = dovecotInfo();
    const dir = mkdtempSync(join(tmpdir(), 'postroom-bundled-ca-'));
    const caFile = join(dir, 'synth-time-ca.pem');
    copyFileSync(info.caFile, caFile);
    const user = freshUser(info);
    const account = {
      ...testAccount(info, user),
      tlsOptions: { ca: caFile, rejectUnauthorized: true },
    };
    const loaded = await asLambdaLoadsIt(configWith(account, dir), dir);
    rmSync(caFile);

    // Act
    const uidValidity = await examineInbox(loaded, user.password);

    // Assess
    expect(loaded.accounts[0]!.tlsOptions?.ca).toEqual({ pem: readFileSync(info.caFile, 'utf8') });
    expect(uidValidity).toBeGreaterThan(0);
  });

  it('fails verification with a bundled CA that did not sign the server, and reads no file for it', async () => {
    // Prepare
    const info = dovecotInfo();
    const dir = mkdtempSync(join(tmpdir(), 'postroom-bundled-ca-'));
    const user = freshUser(info);
    const account = {
      ...testAccount(info, user),
      tlsOptions: { ca: FIXTURE_CA_FILE, rejectUnauthorized: true },
    };
    const loaded = await asLambdaLoadsIt(configWith(account, dir), dir);

    // Act
    const error = await examineInbox(loaded, user.password).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: 'TLS_FAILED' });
    expect((error as Error).message).not.toContain('cannot read tlsOptions.ca');
  });

  it('reads a CA given by reference at connect time', async () => {
    // Prepare: { env } locally takes the same path as { secret } in Lambda
    const info = dovecotInfo();
    const dir = mkdtempSync(join(tmpdir(), 'postroom-bundled-ca-'));
    process.env.POSTROOM_TEST_CA_PEM = readFileSync(info.caFile, 'utf8');
    const user = freshUser(info);
    const account = {
      ...testAccount(info, user),
      tlsOptions: { ca: { env: 'POSTROOM_TEST_CA_PEM' }, rejectUnauthorized: true },
    };

    // Act
    const uidValidity = await examineInbox(configWith(account, dir), user.password);

    // Assess
    expect(uidValidity).toBeGreaterThan(0);
  });
});
