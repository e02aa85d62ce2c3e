/**
 * The functions in a VPC (the construct's `vpc`, `vpcSubnets`,
 * `securityGroups`; the app's `-c vpcId`), a CA file bundled as its content,
 * and the ENI permissions Lambda needs there. Synthesised without bundling,
 * except the one test that reads the bundled config.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { ConfigError } from '#lib/errors.ts';
import { withBundledCa } from '../../infra/bundled-ca.ts';
import { MailboxProcessor, type MailboxProcessorProps } from '../../infra/mailbox-processor.ts';
import { PostroomStack } from '../../infra/postroom-stack.ts';
import { cdkJsonContext, FIXTURE_CA_FILE } from './helpers.ts';

const CONFIG = `
accounts:
  - { id: lan, host: 10.20.0.5, auth: { user: u, password: { secret: imap/lan } } }
  - { id: plain, host: mail.gandi.net, tls: starttls, auth: { user: u, password: { secret: imap/plain } } }
`;

function synth(
  build: (stack: Stack) => Omit<MailboxProcessorProps, 'config'>,
  yaml = CONFIG,
): { template: Template; stack: Stack } {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Net');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  new MailboxProcessor(stack, 'Mail', { config: parseConfig(yaml), ...build(stack) });
  return { template: Template.fromStack(stack), stack };
}

/** A VPC with private subnets behind one NAT gateway (no flow log: the test's VPC is not under review). */
function testVpc(stack: Stack): ec2.Vpc {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  Validations.of(vpc).acknowledge({
    id: 'AwsSolutions-VPC7',
    reason: 'A test VPC; the construct is under review.',
  });
  return vpc;
}

/** The construct's functions (a test VPC brings a custom resource's function of its own). */
const functions = (template: Template) =>
  Object.entries(template.findResources('AWS::Lambda::Function'))
    .filter(([id]) => id.startsWith('Mail'))
    .map(([, fn]) => fn);

describe('MailboxProcessor in a VPC', () => {
  it('runs every function outside any VPC by default', () => {
    const { template } = synth(
      () => ({}),
      'accounts:\n  - { id: a, host: imap.fastmail.com, auth: { user: u, password: { secret: s } } }\n',
    );
    expect(functions(template)).toHaveLength(2);
    for (const fn of functions(template)) expect(fn.Properties.VpcConfig).toBeUndefined();
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
  });

  it('puts every function in the given subnets with a new group that lets out only IMAP and 443', () => {
    // Act
    const { template } = synth((stack) => {
      const vpc = testVpc(stack);
      return { vpc };
    });

    // Assess
    const groups = template.findResources('AWS::EC2::SecurityGroup', {
      Properties: { GroupDescription: Match.stringLikeRegexp('^Postroom functions') },
    });
    const [groupId, group] = Object.entries(groups)[0]!;
    expect(Object.keys(groups)).toHaveLength(1);
    const egress = group.Properties.SecurityGroupEgress as {
      IpProtocol: string;
      FromPort: number;
      ToPort: number;
      CidrIp?: string;
      CidrIpv6?: string;
    }[];
    expect(
      egress
        .map((rule) => `${rule.IpProtocol}/${rule.FromPort}-${rule.ToPort} ${rule.CidrIp ?? rule.CidrIpv6}`)
        .sort(),
    ).toEqual(
      ['143', '443', '993']
        .flatMap((port) => [`tcp/${port}-${port} 0.0.0.0/0`, `tcp/${port}-${port} ::/0`])
        .sort(),
    );
    const privateSubnets = Object.keys(
      template.findResources('AWS::EC2::Subnet', {
        Properties: { Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Private' }]) },
      }),
    );
    expect(privateSubnets).toHaveLength(2);
    expect(functions(template)).toHaveLength(2);
    for (const fn of functions(template)) {
      expect(fn.Properties.VpcConfig).toEqual({
        SecurityGroupIds: [{ 'Fn::GetAtt': [groupId, 'GroupId'] }],
        SubnetIds: privateSubnets.map((id) => ({ Ref: id })),
      });
    }
  });

  it('uses the given subnets and security groups as they are, creating none', () => {
    // Act
    const { template } = synth((stack) => {
      const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
        vpcId: 'vpc-01234567890abcdef',
        availabilityZones: ['eu-west-1a'],
      });
      return {
        vpc,
        vpcSubnets: { subnets: [ec2.Subnet.fromSubnetId(stack, 'S', 'subnet-0aaaaaaaaaaaaaaaa')] },
        securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'G', 'sg-0bbbbbbbbbbbbbbbb')],
      };
    });

    // Assess
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    for (const fn of functions(template)) {
      expect(fn.Properties.VpcConfig).toEqual({
        SecurityGroupIds: ['sg-0bbbbbbbbbbbbbbbb'],
        SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa'],
      });
    }
  });

  it("grants each function's own role the network-interface actions, and passes cdk-nag", () => {
    // Act
    const { template, stack } = synth((stack) => ({
      vpc: testVpc(stack),
    }));

    // Assess
    const roles = Object.keys(template.findResources('AWS::IAM::Role'));
    const withEni = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Sid?: string }[]).some(
        (s) => s.Sid === 'VpcNetworkInterfaces',
      ),
    );
    expect(
      withEni.flatMap((policy) => policy.Properties.Roles.map((r: { Ref: string }) => r.Ref)).sort(),
    ).toEqual(roles.filter((id) => /Poll|Process/.test(id)).sort());
    for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role')))
      if (id.startsWith('Mail')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const errors = Annotations.fromStack(stack)
      .findError('*', Match.stringLikeRegexp('AwsSolutions-'))
      .map((e) => `${e.id}: ${e.entry.data}`);
    expect(errors).toEqual([]);
  });

  it('refuses a private server address without a VPC, and security groups without a VPC', () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'NoVpc');
    expect(() => new MailboxProcessor(stack, 'Mail', { config: parseConfig(CONFIG) })).toThrow(ConfigError);
    const other = new Stack(app, 'GroupsOnly');
    expect(
      () =>
        new MailboxProcessor(other, 'Mail', {
          config: parseConfig(
            'accounts:\n  - { id: a, host: imap.fastmail.com, auth: { user: u, password: { secret: s } } }\n',
          ),
          securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(other, 'G', 'sg-01111111111111111')],
        }),
    ).toThrow('vpcSubnets and securityGroups need vpc');
  });

  it("imports an existing VPC by id for the app's -c vpcId context, environment-agnostic", () => {
    // Act
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new PostroomStack(app, 'Ctx', {
      config: parseConfig(CONFIG),
      existingVpc: {
        vpcId: 'vpc-01111111111111111',
        subnetIds: ['subnet-01111111111111111', 'subnet-02222222222222222'],
      },
    });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-01111111111111111' });
    for (const fn of functions(template)) {
      expect(fn.Properties.VpcConfig).toMatchObject({
        SubnetIds: ['subnet-01111111111111111', 'subnet-02222222222222222'],
      });
    }
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });
});

describe('tlsOptions.ca in a deployment', () => {
  it('replaces a CA path by the certificates it holds, and leaves references as they are', () => {
    const config = parseConfig(
      `accounts:\n  - { id: a, host: imap.fastmail.com, tlsOptions: { ca: ${FIXTURE_CA_FILE} }, auth: { user: u, password: { secret: s } } }\n` +
        '  - { id: b, host: imap.fastmail.com, tlsOptions: { ca: { secret: postroom/ca } }, auth: { user: u, password: { secret: s } } }\n',
    );
    const bundled = withBundledCa(config);
    expect(bundled.accounts[0]!.tlsOptions?.ca).toEqual({ pem: readFileSync(FIXTURE_CA_FILE, 'utf8') });
    expect(bundled.accounts[1]!.tlsOptions?.ca).toEqual({ secret: 'postroom/ca' });
    expect(config.accounts[0]!.tlsOptions?.ca).toBe(FIXTURE_CA_FILE);
  });

  it('lets both functions read a CA given as a secret', () => {
    const { template } = synth(
      () => ({}),
      'accounts:\n  - { id: a, host: imap.fastmail.com, tlsOptions: { ca: { secret: postroom/ca } }, auth: { user: u, password: { secret: s } } }\n',
    );
    const readers = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.PolicyDocument).includes('postroom/ca-??????'),
    );
    expect(readers).toHaveLength(2);
  });
});

describe('the bundled config', () => {
  it('carries the CA certificate itself, and no path to it', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'postroom-ca-synth-'));
    try {
      const app = new App({ outdir, context: cdkJsonContext() });
      const stack = new Stack(app, 'Ca');
      new MailboxProcessor(stack, 'Mail', {
        config: parseConfig(
          `accounts:\n  - { id: a, host: imap.fastmail.com, tlsOptions: { ca: ${FIXTURE_CA_FILE} }, auth: { user: u, password: { secret: s } } }\n`,
        ),
      });

      // Act
      app.synth();

      // Assess
      const template = JSON.parse(readFileSync(join(outdir, 'Ca.template.json'), 'utf8'));
      const poll = Object.entries(
        template.Resources as Record<string, { Type: string; Properties: { Code: { S3Key: string } } }>,
      ).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('MailPoll'))![1];
      const asset = join(outdir, `asset.${poll.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      const bundled = readFileSync(join(asset, 'postroom.config.json'), 'utf8');
      expect(JSON.parse(bundled).config.accounts[0].tlsOptions.ca).toEqual({
        pem: readFileSync(FIXTURE_CA_FILE, 'utf8'),
      });
      expect(bundled).not.toContain(FIXTURE_CA_FILE);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 300_000);
});
