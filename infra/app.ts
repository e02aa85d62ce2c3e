/**
 * The CDK app (`cdk.json` runs it): reads `postroom.yaml` at the repo root, or
 * the file given with `-c config=PATH`, and synthesises one environment-agnostic
 * stack, checked by cdk-nag's AwsSolutions rules. Context: `config`,
 * `stackName` (default `Postroom`), `alarmTopicArn` (an SNS topic for alarms),
 * and to run the functions in an existing VPC: `vpcId` with `vpcSubnetIds`
 * (comma-separated) and optionally `securityGroupIds` (comma-separated; by
 * default a group allowing only IMAP and 443 out is created).
 */
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from '#lib/config/load.ts';
import type { PostroomConfig } from '#lib/config/schema.ts';
import { ConfigError } from '#lib/errors.ts';
import { assertDeployable } from './deploy-config.ts';
import { PostroomStack } from './postroom-stack.ts';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
};
const configPath = resolve(context('config') ?? 'postroom.yaml');
const list = (key: string): string[] =>
  (context(key) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
const vpcId = context('vpcId');
const subnetIds = list('vpcSubnetIds');
const securityGroupIds = list('securityGroupIds');

let config: PostroomConfig;
try {
  config = await loadConfig(configPath);
  const networkProblems = [
    ...(vpcId && subnetIds.length === 0
      ? ['-c vpcSubnetIds: required with -c vpcId (subnet-…,subnet-…)']
      : []),
    ...(!vpcId && (subnetIds.length > 0 || securityGroupIds.length > 0)
      ? ['-c vpcId: required with -c vpcSubnetIds and -c securityGroupIds']
      : []),
  ];
  if (networkProblems.length > 0) throw new ConfigError('the network context is incomplete', networkProblems);
  assertDeployable(config, configPath, { vpc: vpcId !== undefined });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // The same `path: message` lines as `postroom validate`, and no stack trace.
  process.stderr.write(`${error.message}:\n${error.problems.map((line) => `${line}\n`).join('')}`);
  process.exit(1);
}

const alarmTopicArn = context('alarmTopicArn');
new PostroomStack(app, context('stackName') ?? 'Postroom', {
  config,
  description: 'Postroom: IMAP mailboxes in, rules applied, work triggered',
  ...(alarmTopicArn ? { alarmTopicArn } : {}),
  ...(vpcId ? { existingVpc: { vpcId, subnetIds, securityGroupIds } } : {}),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
