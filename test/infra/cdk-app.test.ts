/**
 * The repo's app through the real CDK CLI (`cdk synth`, as a user runs it):
 * offline, with no AWS credentials or account, config from `-c config=PATH`.
 * One synthesis with bundling (the decoy-secret check); the bad-config runs
 * stop before bundling.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { ConfigError } from '#lib/errors.ts';
import { FIXTURE_CA_FILE, FIXTURE_CONFIG, listFiles, REPO_ROOT } from './helpers.ts';

const CDK = join(REPO_ROOT, 'node_modules', '.bin', 'cdk');
// Values that look like secrets a user keeps in the environment for local runs.
const DECOYS = {
  IMAP_PASSWORD: `decoy-imap-${process.pid}-Zq8vN3`,
  POSTROOM_WEBHOOK_SECRET: `decoy-hook-${process.pid}-Kw2pL7`,
};

let work: string;

/** `cdk synth` in the repo with a clean environment: no credentials, no profile, no metadata service. */
function cdkSynth(
  configFile: string | undefined,
  outdir: string,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): SpawnSyncReturns<string> {
  return spawnSync(
    CDK,
    [
      'synth',
      '--no-notices',
      '--quiet',
      ...(configFile === undefined ? [] : ['-c', `config=${configFile}`]),
      ...extraArgs,
      '--output',
      outdir,
    ],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 280_000,
      env: {
        PATH: process.env.PATH,
        HOME: join(work, 'home'),
        AWS_CONFIG_FILE: join(work, 'home', 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(work, 'home', 'no-aws-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        ...extraEnv,
      },
    },
  );
}

function problemsOf(text: string): string[] {
  try {
    parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

let synth: SpawnSyncReturns<string>;
let outdir: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'postroom-cdk-app-'));
  mkdirSync(join(work, 'home'));
  const configFile = join(work, 'postroom.yaml');
  writeFileSync(configFile, FIXTURE_CONFIG);
  outdir = join(work, 'cdk.out');
  synth = cdkSynth(configFile, outdir, DECOYS);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('cdk synth of the Postroom app', () => {
  it('synthesises offline with no AWS credentials into an environment-agnostic stack', () => {
    expect(synth.status, synth.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    expect(manifest.artifacts.Postroom.environment).toBe('aws://unknown-account/unknown-region');
    const template = JSON.parse(readFileSync(join(outdir, 'Postroom.template.json'), 'utf8'));
    expect(
      Object.values(template.Resources).filter(
        (r) => (r as { Type: string }).Type === 'AWS::Lambda::Function',
      ),
    ).toHaveLength(2);
  });

  it('writes no secret value anywhere in cdk.out, only the secret names', () => {
    // Prepare
    const files = listFiles(outdir);
    const contents = files.map((file) => ({ file, text: readFileSync(file).toString('latin1') }));

    // Act
    const leaks = contents.flatMap(({ file, text }) =>
      Object.values(DECOYS)
        .filter((decoy) => text.includes(decoy))
        .map((decoy) => `${decoy} in ${file}`),
    );

    // Assess: the scan reads every file (assets included) and finds what is there.
    expect(files.some((file) => file.endsWith('index.mjs'))).toBe(true);
    expect(files.some((file) => file.endsWith('postroom.config.json'))).toBe(true);
    expect(contents.some(({ text }) => text.includes('postroom/work/imap'))).toBe(true);
    expect(leaks).toEqual([]);
    for (const decoy of Object.values(DECOYS)) expect(`${synth.stdout}${synth.stderr}`).not.toContain(decoy);
  });

  it('fails on a bad config with the same path: message lines as validation, and never echoes a value', () => {
    // Prepare
    const text = 'accounts:\n  - id: Bad!\n    host: ""\n    auth: { user: u, password: hunter2 }\n';
    const configFile = join(work, 'bad.yaml');
    writeFileSync(configFile, text);

    // Act
    const result = cdkSynth(configFile, join(work, 'bad.out'));

    // Assess
    expect(result.status).not.toBe(0);
    const lines = result.stderr.split('\n');
    const expected = problemsOf(text);
    expect(expected).toHaveLength(3);
    for (const problem of expected) expect(lines).toContain(problem);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('rejects an IMAP password from the environment, naming the config path', () => {
    // Prepare
    const configFile = join(work, 'env.yaml');
    writeFileSync(
      configFile,
      'accounts:\n  - { id: a, host: h, auth: { user: u, password: { env: IMAP_PASSWORD } } }\n',
    );

    // Act
    const result = cdkSynth(configFile, join(work, 'env.out'), DECOYS);

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stderr.split('\n')).toContain(
      'accounts[0].auth.password: { env: IMAP_PASSWORD } cannot be deployed to AWS: store the value in AWS Secrets Manager and write { secret: NAME-OR-ARN }',
    );
    expect(result.stderr).not.toContain(DECOYS.IMAP_PASSWORD);
  });

  it('bundles the CA certificate of tlsOptions.ca into both functions, and no path to it', () => {
    // Prepare
    const certificate = readFileSync(FIXTURE_CA_FILE, 'utf8');
    const bundled = listFiles(outdir).filter((file) => file.endsWith('postroom.config.json'));

    // Act
    const cas = bundled.map(
      (file) =>
        (
          JSON.parse(readFileSync(file, 'utf8')) as {
            config: { accounts: { tlsOptions?: { ca?: unknown } }[] };
          }
        ).config.accounts[1]?.tlsOptions?.ca,
    );

    // Assess
    expect(bundled).toHaveLength(2);
    expect(cas).toEqual([{ pem: certificate }, { pem: certificate }]);
    for (const file of listFiles(outdir)) expect(readFileSync(file, 'latin1')).not.toContain(FIXTURE_CA_FILE);
  });

  it('refuses the tracked postroom.yaml, read when no -c config is given, for its placeholder host', () => {
    // Act
    const result = cdkSynth(undefined, join(work, 'default.out'));

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`${join(REPO_ROOT, 'postroom.yaml')} cannot be deployed to AWS:`);
    expect(result.stderr.split('\n')).toContainEqual(
      expect.stringMatching(
        /^accounts\[0\]\.host: imap\.example\.com is a placeholder .*point -c config=PATH at the config you mean to deploy/,
      ),
    );
  });

  it('needs subnets with -c vpcId', () => {
    // Prepare
    const configFile = join(work, 'lan.yaml');
    writeFileSync(
      configFile,
      'accounts:\n  - { id: a, host: 10.0.0.5, auth: { user: u, password: { secret: s } } }\n',
    );

    // Act
    const result = cdkSynth(configFile, join(work, 'lan.out'), {}, ['-c', 'vpcId=vpc-01111111111111111']);

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stderr.split('\n')).toContain(
      '-c vpcSubnetIds: required with -c vpcId (subnet-…,subnet-…)',
    );
  });
});
