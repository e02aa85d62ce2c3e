/**
 * Template assertions for `MailboxProcessor`, cdk-nag AwsSolutions and the IAM
 * review. One full synthesis (with esbuild bundling and cdk-nag) in beforeAll;
 * the variants further down skip bundling, which makes them cheap.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import type { PostroomConfig } from '#lib/config/schema.ts';
import { validateConfig } from '#lib/config/validate.ts';
import { VALIDATED_CONFIG_MARK } from '#lib/config/validated-file.ts';
import { ConfigError } from '#lib/errors.ts';
import { withBundledCa } from '../../infra/bundled-ca.ts';
import { BUNDLED_CONFIG_FILE, MailboxProcessor } from '../../infra/mailbox-processor.ts';
import { PostroomStack } from '../../infra/postroom-stack.ts';
import { cdkJsonContext, FIXTURE_CONFIG } from './helpers.ts';

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  Metadata?: Record<string, unknown>;
};
type Statement = {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: unknown;
};

const STACK = 'PostroomTest';
let outdir: string;
let config: PostroomConfig;
let stack: PostroomStack;
let template: Template;
let resources: Record<string, Resource>;
let synthError: unknown;

/** The one resource of `type` whose logical id starts with `prefix`. */
function resource(type: string, prefix: string): [string, Resource] {
  const found = Object.entries(resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${found.length}`);
  return found[0]!;
}

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Statements of the identity policies attached to the role with this logical-id prefix. */
function roleStatements(rolePrefix: string): Statement[] {
  const [roleId] = resource('AWS::IAM::Role', rolePrefix);
  return ofType('AWS::IAM::Policy')
    .filter(([, policy]) =>
      (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId),
    )
    .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => asArray(s.Action)).sort();

/** Every policy statement in the template: identity policies and resource policies. */
function allStatements(): { where: string; statement: Statement }[] {
  const documents: { where: string; document: unknown }[] = [];
  for (const [id, r] of Object.entries(resources)) {
    const p = r.Properties ?? {};
    if (p.PolicyDocument) documents.push({ where: id, document: p.PolicyDocument });
    for (const inline of (p.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
      documents.push({ where: id, document: inline.PolicyDocument });
    }
  }
  return documents.flatMap(({ where, document }) =>
    asArray((document as { Statement: Statement | Statement[] }).Statement).map((statement) => ({
      where,
      statement,
    })),
  );
}

function bundleDir(functionPrefix: string): string {
  const [, fn] = resource('AWS::Lambda::Function', functionPrefix);
  const key = (fn.Properties.Code as { S3Key: string }).S3Key;
  return join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
}

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'postroom-infra-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  config = parseConfig(FIXTURE_CONFIG);
  stack = new PostroomStack(app, STACK, { config });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  try {
    app.synth();
  } catch (error) {
    // cdk-nag findings stop synthesis after the templates are written; the nag test reports them.
    synthError = error;
  }
  const json = JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8'));
  template = Template.fromJSON(json);
  resources = json.Resources;
  // Bundling two functions takes a while on a busy 2-core machine.
}, 300_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('MailboxProcessor storage', () => {
  it('keeps mail in a bucket encrypted at rest, closed to the public, SSL only, unversioned by default', () => {
    const [bucketId, bucket] = resource('AWS::S3::Bucket', 'MailMailBucket');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { LogFilePrefix: 'mail-bucket/' },
    });
    expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
    expect(bucket.DeletionPolicy).toBe('Retain');
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
          {
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          },
        ],
      },
    });
  });

  it('expires raw mail after rawMailExpireDays and cleans up abandoned multipart uploads', () => {
    const [, bucket] = resource('AWS::S3::Bucket', 'MailMailBucket');
    expect(bucket.Properties.LifecycleConfiguration).toEqual({
      Rules: [
        {
          Id: 'abort-incomplete-uploads',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          Status: 'Enabled',
        },
        { Id: 'expire-raw-mail', ExpirationInDays: 30, Status: 'Enabled' },
      ],
    });
  });

  it('queues pointers on a standard encrypted, SSL-only queue that redrives to a dead-letter queue after maxReceives', () => {
    const [dlqId, dlq] = resource('AWS::SQS::Queue', 'MailDeadLetterQueue');
    const [queueId, queue] = resource('AWS::SQS::Queue', 'MailIngestQueue');
    expect(queue.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 7 * 86_400,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 4 },
    });
    expect(queue.Properties.FifoQueue).toBeUndefined();
    expect(dlq.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 });
    for (const id of [queueId, dlqId]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: [
            { Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
          ],
        },
      });
    }
  });

  it('sets the visibility timeout to six times the processor timeout', () => {
    const [, queue] = resource('AWS::SQS::Queue', 'MailIngestQueue');
    expect(queue.Properties.VisibilityTimeout).toBe(6 * 90);
  });

  it('keeps state in an on-demand DynamoDB table with pk/sk keys, point-in-time recovery and TTL on ttl', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  it('creates an event bus for emit actions', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
  });
});

describe('MailboxProcessor functions', () => {
  it('runs both functions on Node.js 22, ARM64, with the configured timeouts, memory and log retention', () => {
    const [, poll] = resource('AWS::Lambda::Function', 'MailPollFunction');
    const [, processing] = resource('AWS::Lambda::Function', 'MailProcessFunction');
    expect(poll.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 240,
      MemorySize: 768,
    });
    expect(processing.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 90,
      MemorySize: 1024,
    });
    const retention = ofType('AWS::Logs::LogGroup').map(([, group]) => group.Properties.RetentionInDays);
    expect(retention).toEqual([14, 14]);
  });

  it('gives both functions the resource names, the bundled config file and Powertools settings, never the config itself', () => {
    const [bucketId] = resource('AWS::S3::Bucket', 'MailMailBucket');
    const [queueId] = resource('AWS::SQS::Queue', 'MailIngestQueue');
    const [tableId] = resource('AWS::DynamoDB::Table', 'MailStateTable');
    const [busId] = resource('AWS::Events::EventBus', 'MailEventBus');
    for (const prefix of ['MailPollFunction', 'MailProcessFunction']) {
      const [, fn] = resource('AWS::Lambda::Function', prefix);
      expect((fn.Properties.Environment as { Variables: unknown }).Variables).toEqual({
        POSTROOM_BUCKET: { Ref: bucketId },
        POSTROOM_QUEUE_URL: { Ref: queueId },
        POSTROOM_TABLE: { Ref: tableId },
        POSTROOM_EVENT_BUS: { Ref: busId },
        POSTROOM_CONFIG_FILE: 'postroom.config.json',
        POSTROOM_CONNECTION_SLOTS: expect.stringMatching(/^(by-concurrency|table)$/),
        POWERTOOLS_SERVICE_NAME: 'postroom',
        POWERTOOLS_METRICS_NAMESPACE: 'Postroom',
      });
    }
  });

  it('bundles each handler as minified ESM with a source map and the validated config beside it', () => {
    for (const prefix of ['MailPollFunction', 'MailProcessFunction']) {
      const dir = bundleDir(prefix);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(
        code.startsWith(
          "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        ),
      ).toBe(true);
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      // Minified: long lines (the few line breaks left are inside template literals).
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
      const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8'));
      expect(map.sourcesContent).toBeUndefined();
      // Marked as validated at synth, so the handler does not build the schema to validate it again.
      expect(JSON.parse(readFileSync(join(dir, BUNDLED_CONFIG_FILE), 'utf8'))).toEqual({
        $postroom: VALIDATED_CONFIG_MARK,
        // CA files travel as their certificates (`bundled-ca.ts`).
        config: withBundledCa(validateConfig(config)),
      });
    }
  });

  it('leaves the config schema out of both bundles, and the rule language out of the poll bundle', () => {
    // The source map lists every file that has code in the bundle.
    const sources = (prefix: string): string[] =>
      JSON.parse(readFileSync(join(bundleDir(prefix), 'index.mjs.map'), 'utf8')).sources;
    // The handlers take the config cdk synth validated: no schema to build at a cold start.
    const schemas = (source: string) => /\/lib\/(config|rules)\/(schema|validate)\.ts$/.test(source);
    for (const prefix of ['MailPollFunction', 'MailProcessFunction']) {
      expect(sources(prefix).filter(schemas)).toEqual([]);
      expect(sources(prefix)).toEqual(
        expect.arrayContaining([expect.stringMatching(/\/lib\/config\/validated-file\.ts$/)]),
      );
    }
    // The regex engine compiles the rules' patterns: the process function's business only.
    const regexEngine = (source: string) => /\/node_modules\/re2js\//.test(source);
    expect(sources('MailPollFunction').filter(regexEngine)).toEqual([]);
    expect(sources('MailProcessFunction').filter(regexEngine)).not.toEqual([]);
  });

  it('leaves the local stand-ins out of both bundles, and EventBridge out of the poll bundle', () => {
    const sources = (prefix: string): string[] =>
      JSON.parse(readFileSync(join(bundleDir(prefix), 'index.mjs.map'), 'utf8')).sources;
    // SQLite and the folder store are the CLI's; the composition root keeps them apart.
    const local = (source: string) =>
      /\/lib\/(adapters\/local\/|composition\/(local|open-runtime)\.ts$)|\/node_modules\/better-sqlite3\//.test(
        source,
      );
    for (const prefix of ['MailPollFunction', 'MailProcessFunction']) {
      expect(sources(prefix).filter(local)).toEqual([]);
      expect(sources(prefix)).toEqual(
        expect.arrayContaining([expect.stringMatching(/\/lib\/composition\/aws\.ts$/)]),
      );
    }
    const eventBridge = (source: string) => /\/node_modules\/@aws-sdk\/client-eventbridge\//.test(source);
    expect(sources('MailPollFunction').filter(eventBridge)).toEqual([]);
    expect(sources('MailProcessFunction').filter(eventBridge)).not.toEqual([]);
  });

  it('bundles one build of each dependency and stubs the ones Postroom does not use', () => {
    for (const prefix of ['MailPollFunction', 'MailProcessFunction']) {
      const sources: string[] = JSON.parse(
        readFileSync(join(bundleDir(prefix), 'index.mjs.map'), 'utf8'),
      ).sources;
      // A package bundled from both its `dist/esm` and `dist/cjs` builds is there twice.
      const builds = new Map<string, Set<string>>();
      for (const source of sources) {
        const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\/dist\/(esm|cjs)\//.exec(source);
        if (match) builds.set(match[1]!, (builds.get(match[1]!) ?? new Set()).add(match[2]!));
      }
      // libmime: only the CommonJS build, and that as the copy that loads without building GBK.
      expect(builds.get('libmime')).toBeUndefined();
      expect(
        sources.filter((source) => /\/\.cache\/postroom\/libmime-cjs-[0-9a-f]+\/charset\.js$/.test(source)),
      ).toHaveLength(1);
      expect([...builds].filter(([, formats]) => formats.size > 1).map(([name]) => name)).toEqual([]);
      expect(sources.filter((source) => /node_modules\/(socks|pino|linkify-it)\//.test(source))).toEqual([]);
    }
  });

  it('bundles every dependency, the AWS SDK included: the only imports left are Node built-ins', () => {
    const builtin = (specifier: string) => builtinModules.includes(specifier.replace(/^node:/, ''));
    // Packages the AWS SDK requires inside try/catch and does without when absent (they add
    // SigV4a signing, for S3 multi-region access points, which Postroom does not use).
    const optional = new Set(['@aws-sdk/signature-v4-crt', '@aws-sdk/signature-v4a']);
    for (const prefix of ['MailPollFunction', 'MailProcessFunction']) {
      const code = readFileSync(join(bundleDir(prefix), 'index.mjs'), 'utf8');
      // A static import of a missing package fails the cold start, so these must all be built-ins.
      const imports = [
        ...code.matchAll(/(?:^|[;}\n])\s*import\s*(?:[\w$*{},\s]+?\s*from\s*)?["']([^"']+)["']/g),
      ].map((match) => match[1]!);
      const requires = [
        ...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
        ...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g),
      ].map((match) => match[1]!);
      expect(imports).toContain('module');
      expect(imports.filter((specifier) => !builtin(specifier))).toEqual([]);
      expect(requires.filter((specifier) => !builtin(specifier) && !optional.has(specifier))).toEqual([]);
    }
  });

  it('invokes the poll function once per account on its schedule, with { account }', () => {
    const [pollId] = resource('AWS::Lambda::Function', 'MailPollFunction');
    const rules = ofType('AWS::Events::Rule').map(([, rule]) => rule.Properties);
    expect(rules).toHaveLength(2);
    expect(
      rules.map((rule) => [rule.ScheduleExpression, (rule.Targets as { Input: string }[])[0]!.Input]),
    ).toEqual([
      ['rate(5 minutes)', '{"account":"work"}'],
      ['cron(0/15 * * * ? *)', '{"account":"home"}'],
    ]);
    for (const rule of rules) {
      expect((rule.Targets as { Arn: unknown }[])[0]!.Arn).toEqual({ 'Fn::GetAtt': [pollId, 'Arn'] });
    }
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Permission',
      {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [pollId, 'Arn'] },
      },
      2,
    );
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: pollId },
      MaximumRetryAttempts: 0,
    });
  });

  it('feeds the process function from the queue with the configured batch, window and concurrency, reporting item failures', () => {
    const [processId] = resource('AWS::Lambda::Function', 'MailProcessFunction');
    const [queueId] = resource('AWS::SQS::Queue', 'MailIngestQueue');
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: processId },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 25,
      MaximumBatchingWindowInSeconds: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 3 },
    });
  });
});

describe('MailboxProcessor permissions', () => {
  const secretByName = (name: string) => ({
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':secretsmanager:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        `:secret:${name}-??????`,
      ],
    ],
  });
  const homeArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:postroom/home-AbCdEf';

  it('lets the poll function read exactly the IMAP passwords, by ARN or by name with the random suffix', () => {
    const secrets = roleStatements('MailPollRole').filter((s) =>
      asArray(s.Action).includes('secretsmanager:GetSecretValue'),
    );
    expect(secrets).toHaveLength(1);
    expect(secrets[0]!.Action).toBe('secretsmanager:GetSecretValue');
    expect(asArray(secrets[0]!.Resource)).toEqual(
      expect.arrayContaining([homeArn, secretByName('postroom/work/imap')]),
    );
    expect(asArray(secrets[0]!.Resource)).toHaveLength(2);
  });

  it('lets the process function read the IMAP passwords (it acts on the server) and the webhook secrets', () => {
    const secrets = roleStatements('MailProcessRole').filter((s) =>
      asArray(s.Action).includes('secretsmanager:GetSecretValue'),
    );
    expect(secrets).toHaveLength(1);
    expect(asArray(secrets[0]!.Resource)).toEqual(
      expect.arrayContaining([homeArn, secretByName('postroom/work/imap'), secretByName('postroom/webhook')]),
    );
    expect(asArray(secrets[0]!.Resource)).toHaveLength(3);
  });

  it('gives each function only the actions it uses', () => {
    expect(actionsOf(roleStatements('MailPollRole'))).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'secretsmanager:GetSecretValue',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
    ]);
    expect(actionsOf(roleStatements('MailProcessRole'))).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'events:PutEvents',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'secretsmanager:GetSecretValue',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
    ]);
    // No AWS managed policies (AWSLambdaBasicExecutionRole could write to any log group).
    for (const [, role] of ofType('AWS::IAM::Role'))
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('limits the poll function to raw mail keys in the bucket', () => {
    const [bucketId] = resource('AWS::S3::Bucket', 'MailMailBucket');
    const objects = roleStatements('MailPollRole').filter((s) => asArray(s.Action).includes('s3:PutObject'));
    expect(objects.map((s) => s.Resource)).toEqual([
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/raw/*']] },
    ]);
  });

  it('grants no wildcard action anywhere (only the SSL-only Deny statements use one, to take rights away)', () => {
    const wildcards = allStatements().filter(({ statement }) =>
      asArray(statement.Action).some((a) => a.includes('*')),
    );
    expect(wildcards.every(({ statement }) => statement.Effect === 'Deny')).toBe(true);
    expect(
      wildcards.every(
        ({ statement }) =>
          JSON.stringify(statement.Condition).includes('aws:SecureTransport') ||
          JSON.stringify(statement.Condition).includes('s3:TlsVersion'),
      ),
    ).toBe(true);
  });

  it('lists every Resource "*" with the reason it is needed', () => {
    // Each entry: the action allowed on every resource, and why no narrower resource exists.
    // None today: metrics go out as embedded metric format through the function's own log
    // group (no cloudwatch:PutMetricData), there is no X-Ray tracing, and the functions
    // run outside a VPC (no ec2:CreateNetworkInterface).
    const REASONS: Record<string, string> = {};
    const found = allStatements()
      .filter(({ statement }) => statement.Effect === 'Allow' && asArray(statement.Resource).includes('*'))
      .flatMap(({ statement }) => asArray(statement.Action));
    expect(found.filter((action) => !REASONS[action])).toEqual([]);
    expect(found.sort()).toEqual(Object.keys(REASONS).sort());
  });
});

describe('MailboxProcessor alarms and dashboard', () => {
  function alarm(metricName: string, account?: string): Resource['Properties'] {
    const found = ofType('AWS::CloudWatch::Alarm')
      .map(([, r]) => r.Properties)
      .filter(
        (p) =>
          p.MetricName === metricName &&
          (account === undefined ||
            (p.Dimensions as { Name: string; Value: string }[]).some(
              (d) => d.Name === 'account' && d.Value === account,
            )),
      );
    if (found.length !== 1)
      throw new Error(`expected one alarm on ${metricName} ${account ?? ''}, found ${found.length}`);
    return found[0]!;
  }

  it('alarms when the dead-letter queue holds a message', () => {
    const [dlqId] = resource('AWS::SQS::Queue', 'MailDeadLetterQueue');
    expect(alarm('ApproximateNumberOfMessagesVisible')).toMatchObject({
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('alarms when the oldest queued message is older than 30 minutes', () => {
    const [queueId] = resource('AWS::SQS::Queue', 'MailIngestQueue');
    expect(alarm('ApproximateAgeOfOldestMessage')).toMatchObject({
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('alarms on poll errors per account and on failures of the poll function itself', () => {
    for (const account of ['work', 'home']) {
      expect(alarm('PollErrors', account)).toMatchObject({
        Namespace: 'Postroom',
        Dimensions: expect.arrayContaining([{ Name: 'service', Value: 'postroom' }]),
        Statistic: 'Sum',
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      });
    }
    const [pollId] = resource('AWS::Lambda::Function', 'MailPollFunction');
    expect(alarm('Errors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: pollId } }],
    });
  });

  it('alarms when an account has not been polled successfully for three of its schedule intervals', () => {
    expect(alarm('PollSucceeded', 'work')).toMatchObject({
      Namespace: 'Postroom',
      Period: 300,
      EvaluationPeriods: 3,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(alarm('PollSucceeded', 'home')).toMatchObject({ Period: 900, EvaluationPeriods: 3 });
  });

  it('shows ingest, lag, rule matches, actions and errors on the dashboard', () => {
    const [, dashboard] = resource('AWS::CloudWatch::Dashboard', 'MailDashboard');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const metric of [
      'MessagesIngested',
      'MailboxLag',
      'RuleMatches',
      'ActionsApplied',
      'PollErrors',
      'ProcessErrors',
      'ApproximateAgeOfOldestMessage',
    ]) {
      expect(body).toContain(metric);
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged, and every acknowledgment gives its reason', () => {
    // Assess: synthesis ran the checks and was not interrupted.
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        pluginName: string;
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const findings = report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((v) =>
        v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`),
      ),
    );
    expect(findings).toEqual([]);
    expect(synthError).toBeUndefined();

    const acknowledged = stack.node.findAll().flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        // Each entry is `{ [rule id]: reason }`; CDK prefixes ids it does not know with `Annotation::`.
        .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
        .map(([id, reason]) => ({ path: construct.node.path, id: id.replace(/^annotation::/i, ''), reason })),
    );
    expect(acknowledged.map(({ path, id }) => `${id} at ${path}`).sort()).toEqual([
      'AwsSolutions-IAM5[Resource::<MailMailBucketF91FE1FC.Arn>/*] at PostroomTest/Mail/ProcessRole',
      'AwsSolutions-IAM5[Resource::<MailMailBucketF91FE1FC.Arn>/raw/*] at PostroomTest/Mail/PollRole',
      'AwsSolutions-L1 at PostroomTest/Mail/PollFunction',
      'AwsSolutions-L1 at PostroomTest/Mail/ProcessFunction',
      'AwsSolutions-S1 at PostroomTest/Mail/AccessLogsBucket',
      'AwsSolutions-SQS3 at PostroomTest/Mail/DeadLetterQueue',
    ]);
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(30);
  });
});

describe('MailboxProcessor settings (synthesised without bundling)', () => {
  function synthWithoutBundling(yaml: string): Template {
    // An empty list of stacks to bundle makes NodejsFunction skip esbuild: fast, same template shape.
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const variant = new Stack(app, 'Variant');
    new MailboxProcessor(variant, 'Mail', { config: parseConfig(yaml) });
    return Template.fromStack(variant);
  }
  const minimal =
    'accounts:\n  - { id: a, host: h, auth: { user: u, password: { secret: s } }, schedule: "rate(1 minutes)" }\n';

  it("lowers the processor's concurrency to fit the smallest account's connection budget", () => {
    // Act
    const template = synthWithoutBundling(
      'accounts:\n  - { id: a, host: h, maxConnections: 4, auth: { user: u, password: { secret: s } }, schedule: "rate(1 minutes)" }\n' +
        'aws: { processor: { maxConcurrency: 10 } }\n',
    );

    // Assess: one slot stays for the poller
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0]!;
    expect(mapping.Properties.ScalingConfig).toEqual({ MaximumConcurrency: 3 });
  });

  it('counts sessions in the table only when the concurrency alone could exceed a budget', () => {
    // Act: the default budget (5) holds 1 poller + 2 processors; a budget of 2 does not.
    const byConcurrency = synthWithoutBundling(minimal);
    const counted = synthWithoutBundling(minimal.replace('host: h,', 'host: h, maxConnections: 2,'));

    // Assess
    const slotsOf = (template: Template) =>
      Object.values(template.findResources('AWS::Lambda::Function')).map(
        (f) => f.Properties.Environment?.Variables?.POSTROOM_CONNECTION_SLOTS,
      );
    expect(new Set(slotsOf(byConcurrency).filter(Boolean))).toEqual(new Set(['by-concurrency']));
    expect(new Set(slotsOf(counted).filter(Boolean))).toEqual(new Set(['table']));
  });

  it('applies the defaults when the config has no aws section', () => {
    // Act
    const defaults = synthWithoutBundling(minimal);

    // Assess
    const bucket = Object.values(
      defaults.findResources('AWS::S3::Bucket', { Properties: { LoggingConfiguration: {} } }),
    )[0]!;
    expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
    expect(bucket.Properties.LifecycleConfiguration.Rules).toHaveLength(1);
    defaults.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 360,
      RedrivePolicy: { maxReceiveCount: 5 },
    });
    const mapping = Object.values(defaults.findResources('AWS::Lambda::EventSourceMapping'))[0]!;
    expect(mapping.Properties).toMatchObject({ BatchSize: 10, ScalingConfig: { MaximumConcurrency: 2 } });
    expect(mapping.Properties.MaximumBatchingWindowInSeconds).toBeUndefined();
    defaults.hasResourceProperties('AWS::Lambda::Function', { Timeout: 300, MemorySize: 512 });
    defaults.hasResourceProperties('AWS::Lambda::Function', { Timeout: 60, MemorySize: 512 });
    defaults.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    // EventBridge accepts `rate(1 minute)` only.
    defaults.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    defaults.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'PollSucceeded',
      Period: 60,
      EvaluationPeriods: 3,
    });
  });

  it('lets the poller keep change-event state and emit events only when a mailbox asks for changes', () => {
    const pollStatements = (template: Template) =>
      Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((p) => JSON.stringify(p.Properties.Roles).includes('PollRole'))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const without = pollStatements(synthWithoutBundling(minimal));
    expect(without.some((st) => asArray(st.Action).includes('events:PutEvents'))).toBe(false);
    const withChanges = pollStatements(
      synthWithoutBundling(
        minimal.replace('schedule:', 'mailboxes: [{ name: INBOX, changes: true }], schedule:'),
      ),
    );
    expect(withChanges.some((st) => asArray(st.Action).includes('events:PutEvents'))).toBe(true);
    expect(JSON.stringify(withChanges)).toContain('/state/changes/*');
  });

  it('versions the bucket and expires old versions too when asked', () => {
    const versioned = synthWithoutBundling(
      `${minimal}aws: { bucketVersioning: true, rawMailExpireDays: 7 }\n`,
    );
    versioned.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: [
          { Id: 'abort-incomplete-uploads' },
          { Id: 'expire-raw-mail', ExpirationInDays: 7, NoncurrentVersionExpiration: { NoncurrentDays: 7 } },
        ],
      },
    });
  });

  /** Builds a MailboxProcessor from `config` in a stack of its own; returns what it threw and whether it built anything. */
  function refusal(config: PostroomConfig): { error: unknown; builtAnything: boolean } {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const variant = new Stack(app, 'Refused');
    let error: unknown;
    try {
      new MailboxProcessor(variant, 'Mail', { config });
    } catch (caught) {
      error = caught;
    }
    return { error, builtAnything: variant.node.findAll().some((c) => c.node.id === 'MailBucket') };
  }

  it('refuses a config with an IMAP password from the environment, before building anything', () => {
    // Prepare
    const withEnv = parseConfig(
      'accounts:\n  - { id: a, host: h, auth: { user: u, password: { env: IMAP_PASSWORD } } }\n',
    );

    // Act
    const { error, builtAnything } = refusal(withEnv);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'accounts[0].auth.password: { env: IMAP_PASSWORD } cannot be deployed to AWS: store the value in AWS Secrets Manager and write { secret: NAME-OR-ARN }',
    ]);
    expect(builtAnything).toBe(false);
  });

  it('validates a config it was handed unvalidated, with the same lines as postroom validate', () => {
    // Prepare: built in code rather than loaded, so nothing checked it, with a rule whose regex cannot compile.
    const handBuilt = {
      accounts: [{ id: 'a', host: 'h', auth: { user: 'u', password: { secret: 'imap/a' } } }],
      rules: [{ name: 'r', when: { subject: { regex: 'a(b' } }, then: [{ flag: 'x' }] }],
    } as unknown as PostroomConfig;

    // Act
    const { error, builtAnything } = refusal(handBuilt);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^rules\[0\] \(r\)\.when\.subject\.regex: invalid regular expression/),
    ]);
    expect(builtAnything).toBe(false);
  });
});
