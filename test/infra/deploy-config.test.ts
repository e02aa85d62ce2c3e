import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { ConfigError } from '#lib/errors.ts';
import {
  assertDeployable,
  deploymentProblems,
  deploySettings,
  findSecretRefs,
  normalizeSchedule,
  scheduleInterval,
} from '../../infra/deploy-config.ts';

const account = (id: string, password: string, extra = '') =>
  `  - id: ${id}\n    host: imap.example.com\n    auth: { user: u, password: ${password} }\n${extra}`;

describe('deployment config checks', () => {
  it('finds secret references wherever they are and tells IMAP passwords apart', () => {
    // Prepare
    const config = parseConfig(
      `accounts:\n${account('work', '{ secret: postroom/work }')}${account('home', '{ env: HOME_PASSWORD }')}` +
        'rules:\n  - name: hook\n    then:\n      - webhook: { url: "https://hooks.example.com/in", secret: { secret: postroom/hook } }\n',
    );

    // Act
    const refs = findSecretRefs(config);

    // Assess
    expect(refs).toEqual([
      { path: 'accounts[0].auth.password', account: 'work', ref: { secret: 'postroom/work' } },
      { path: 'accounts[1].auth.password', account: 'home', ref: { env: 'HOME_PASSWORD' } },
      { path: 'rules[0].then[0].webhook.secret', ref: { secret: 'postroom/hook' } },
    ]);
  });

  it('rejects every secret given by environment variable, naming its path', () => {
    // Prepare
    const config = parseConfig(
      `accounts:\n${account('work', '{ env: WORK_PASSWORD }')}` +
        'rules:\n  - name: hook\n    then:\n      - webhook: { url: "https://hooks.example.com/in", secret: { env: HOOK_SECRET } }\n',
    );

    // Act
    let error: unknown;
    try {
      assertDeployable(config, 'postroom.yaml');
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('postroom.yaml cannot be deployed to AWS');
    expect((error as ConfigError).problems).toEqual([
      'accounts[0].auth.password: { env: WORK_PASSWORD } cannot be deployed to AWS: store the value in AWS Secrets Manager and write { secret: NAME-OR-ARN }',
      'rules[0].then[0].webhook.secret: { env: HOOK_SECRET } cannot be deployed to AWS: store the value in AWS Secrets Manager and write { secret: NAME-OR-ARN }',
    ]);
  });

  it('accepts a config whose secrets all come from Secrets Manager', () => {
    const config = parseConfig(
      `accounts:\n${account('work', '{ secret: arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf }')}`,
    );
    expect(deploymentProblems(config)).toEqual([]);
  });

  it('rejects settings AWS would refuse at deploy time, by path', () => {
    // Prepare
    const config = parseConfig(
      `accounts:\n${account('work', '{ secret: w }', '    schedule: cron(0 12 * * * *)\n')}` +
        account('fast', '{ secret: f }', '    schedule: rate(10 seconds)\n') +
        'aws:\n  logRetentionDays: 10\n  processor: { batchSize: 50 }\n',
    );

    // Act
    const problems = deploymentProblems(config);

    // Assess
    expect(problems).toEqual([
      'accounts[0].schedule: one of day-of-month and day-of-week must be ? in an EventBridge cron expression',
      'accounts[1].schedule: a deployed schedule runs at most once a minute: use rate(1 minute) or longer',
      expect.stringMatching(/^aws\.logRetentionDays: expected one of 1, 3, 5, 7, 14, 30, /),
      'aws.processor.batchSize: more than 10 messages per batch needs aws.processor.batchingWindowSeconds of at least 1 (a rule of Lambda SQS event sources)',
    ]);
  });

  it('applies the deployment defaults when the config has no aws section', () => {
    const settings = deploySettings(parseConfig(''));
    expect(settings).toEqual({
      bucketVersioning: false,
      poller: { timeoutSeconds: 300, memoryMb: 512 },
      processor: {
        batchSize: 10,
        batchingWindowSeconds: 0,
        maxConcurrency: 2,
        maxReceives: 5,
        timeoutSeconds: 60,
        memoryMb: 512,
      },
      idempotencyDays: 14,
      logRetentionDays: 30,
    });
  });

  it('spells rate expressions the way EventBridge accepts them', () => {
    expect(normalizeSchedule('rate(1 minutes)')).toBe('rate(1 minute)');
    expect(normalizeSchedule('rate( 5  minute )')).toBe('rate(5 minutes)');
    expect(normalizeSchedule('rate(2 hour)')).toBe('rate(2 hours)');
    expect(normalizeSchedule('cron(0/10 * * * ? *)')).toBe('cron(0/10 * * * ? *)');
  });

  it('derives the longest gap between runs from rates and cron expressions', () => {
    expect(scheduleInterval('rate(5 minutes)')).toEqual({ seconds: 300, exact: true });
    expect(scheduleInterval('rate(1 day)')).toEqual({ seconds: 86_400, exact: true });
    expect(scheduleInterval('cron(0/15 * * * ? *)')).toEqual({ seconds: 900, exact: true });
    expect(scheduleInterval('cron(5,20 * * * ? *)')).toEqual({ seconds: 45 * 60, exact: true });
    // Business hours on weekdays: the longest gap is Friday 18:50 to Monday 08:00.
    expect(scheduleInterval('cron(0/10 8-18 ? * MON-FRI *)')).toEqual({
      seconds: (2 * 24 * 60 + 13 * 60 + 10) * 60,
      exact: true,
    });
    expect(scheduleInterval('cron(0 9 L * ? *)')).toEqual({ seconds: 86_400, exact: false });
  });
});
