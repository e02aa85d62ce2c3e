import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '#lib/config/load.ts';
import { ConfigError } from '#lib/errors.ts';
import {
  assertDeployable,
  deploymentProblems,
  deploySettings,
  findSecretRefs,
  normalizeSchedule,
  scheduleInterval,
} from '../../infra/deploy-config.ts';
import { egressPorts, hostKind } from '../../infra/deploy-reach.ts';
import { REPO_ROOT } from './helpers.ts';

const account = (id: string, password: string, extra = '') =>
  `  - id: ${id}\n    host: imap.fastmail.com\n    auth: { user: u, password: ${password} }\n${extra}`;

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
        'rules:\n  - name: hook\n    then:\n      - webhook: { url: "https://hooks.slack.com/in", secret: { env: HOOK_SECRET } }\n',
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
      poller: { timeoutSeconds: 300, memoryMb: 512, concurrency: 16 },
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

  it('tells loopback, private, placeholder and public hosts apart', () => {
    const kinds = Object.fromEntries(
      [
        'localhost',
        'mail.localhost',
        '127.0.0.1',
        '127.8.9.1',
        '0.0.0.0',
        '::1',
        '[::1]',
        '::ffff:127.0.0.1',
        '10.0.4.7',
        '172.16.0.1',
        '172.31.255.1',
        '172.32.0.1',
        '192.168.1.20',
        '169.254.10.1',
        'fd12:3456::1',
        'fe80::1',
        'imap.example.com',
        'example.org',
        'mail.example.net',
        'imap.corp.invalid',
        'mail.test',
        'imap.gmail.com',
        'outlook.office365.com',
        '8.8.8.8',
        '2a00:1450::1',
      ].map((host) => [host, hostKind(host)]),
    );
    expect(kinds).toEqual({
      localhost: 'loopback',
      'mail.localhost': 'loopback',
      '127.0.0.1': 'loopback',
      '127.8.9.1': 'loopback',
      '0.0.0.0': 'loopback',
      '::1': 'loopback',
      '[::1]': 'loopback',
      '::ffff:127.0.0.1': 'loopback',
      '10.0.4.7': 'private',
      '172.16.0.1': 'private',
      '172.31.255.1': 'private',
      '172.32.0.1': 'public',
      '192.168.1.20': 'private',
      '169.254.10.1': 'private',
      'fd12:3456::1': 'private',
      'fe80::1': 'private',
      'imap.example.com': 'placeholder',
      'example.org': 'placeholder',
      'mail.example.net': 'placeholder',
      'imap.corp.invalid': 'placeholder',
      'mail.test': 'placeholder',
      'imap.gmail.com': 'public',
      'outlook.office365.com': 'public',
      '8.8.8.8': 'public',
      '2a00:1450::1': 'public',
    });
  });

  it('refuses what cannot work in Lambda: loopback and placeholder hosts, IDLE, http webhooks', () => {
    // Prepare
    const config = parseConfig(
      [
        'accounts:',
        '  - { id: loop, host: 127.0.0.1, idle: true, auth: { user: u, password: { secret: a } } }',
        '  - id: sample',
        '    host: imap.example.com',
        '    auth: { user: u, password: { secret: b } }',
        '    mailboxes: [INBOX, { name: Urgent, idle: true }]',
        '  - { id: lan, host: 192.168.1.20, auth: { user: u, password: { secret: c } } }',
        'rules:',
        '  - name: hooks',
        '    then:',
        '      - webhook: { url: "http://127.0.0.1:8080/in", secret: { secret: h } }',
        '      - webhook: { url: "https://hooks.example.org/in", secret: { secret: h } }',
        '      - webhook: { url: "https://hooks.slack.com/in", secret: { secret: h } }',
        '',
      ].join('\n'),
    );

    // Act
    const problems = deploymentProblems(config);

    // Assess
    expect(problems).toEqual([
      "accounts[0].host: 127.0.0.1 is a loopback address: a deployed function reaches only itself there; name the server's real host",
      'accounts[0].idle: IDLE needs a connection held open between mails, which a Lambda invocation cannot hold: deployed mailboxes are polled on the account schedule; remove it (postroom run uses IDLE on one machine)',
      'accounts[1].host: imap.example.com is a placeholder (a reserved example domain), not a server: write the real IMAP host, and point -c config=PATH at the config you mean to deploy (npx cdk deploy reads ./postroom.yaml unless told otherwise)',
      'accounts[1].mailboxes[1].idle: IDLE needs a connection held open between mails, which a Lambda invocation cannot hold: deployed mailboxes are polled on the account schedule; remove it (postroom run uses IDLE on one machine)',
      'accounts[2].host: 192.168.1.20 is a private address, which a function outside a VPC cannot reach: deploy into the server\'s VPC (-c vpcId=… -c vpcSubnetIds=…, or the vpc prop of MailboxProcessor; see "Network reach" in the README)',
      'rules[0].then[0].webhook.url: a deployed webhook must be https:// (http:// is for a receiver on the same machine, which a Lambda function is not)',
      expect.stringMatching(/^rules\[0\]\.then\[1\]\.webhook\.url: hooks\.example\.org is a placeholder/),
    ]);
  });

  it('accepts a private address once the functions run in a VPC, never loopback', () => {
    const config = parseConfig(
      'accounts:\n' +
        '  - { id: lan, host: 10.1.2.3, auth: { user: u, password: { secret: c } } }\n' +
        '  - { id: loop, host: localhost, auth: { user: u, password: { secret: d } } }\n',
    );
    expect(deploymentProblems(config, { vpc: true })).toEqual([
      "accounts[1].host: localhost is a loopback address: a deployed function reaches only itself there; name the server's real host",
    ]);
  });

  it("refuses the tracked postroom.yaml's placeholder host, saying to point -c config at the real config", async () => {
    const config = await loadConfig(join(REPO_ROOT, 'postroom.yaml'));
    expect(deploymentProblems(config)).toContainEqual(
      expect.stringMatching(
        /^accounts\[0\]\.host: imap\.example\.com is a placeholder .*point -c config=PATH at the config you mean to deploy/,
      ),
    );
  });

  it('needs a CA file that exists and holds certificates, and an OAuth2 refresh token by secret', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'postroom-ca-'));
    writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const config = parseConfig(
      [
        'accounts:',
        `  - { id: a, host: imap.fastmail.com, tlsOptions: { ca: ${join(dir, 'missing.pem')} }, auth: { user: u, password: { secret: a } } }`,
        `  - { id: b, host: imap.fastmail.com, tlsOptions: { ca: ${join(dir, 'key.pem')} }, auth: { user: u, password: { secret: b } } }`,
        '  - id: c',
        '    host: imap.gmail.com',
        '    auth: { user: u, method: xoauth2, oauth2: { provider: google, clientId: id } }',
        '',
      ].join('\n'),
    );

    // Act
    const problems = deploymentProblems(config);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^accounts\[0\]\.tlsOptions\.ca: cannot read \S+missing\.pem \(ENOENT; /),
      `accounts[1].tlsOptions.ca: ${join(dir, 'key.pem')} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      'accounts[2].auth.oauth2.refreshToken: required when deployed: { secret: NAME } (postroom oauth login --account c writes the token there)',
    ]);
  });

  it('lets the functions out only to the IMAP ports and webhook ports in the config, and 443', () => {
    const config = parseConfig(
      'accounts:\n' +
        '  - { id: a, host: imap.fastmail.com, auth: { user: u, password: { secret: a } } }\n' +
        '  - { id: b, host: mail.gandi.net, tls: starttls, auth: { user: u, password: { secret: b } } }\n' +
        '  - { id: c, host: mail.gandi.net, port: 1993, auth: { user: u, password: { secret: b } } }\n' +
        'rules:\n  - name: h\n    then:\n      - webhook: { url: "https://hooks.slack.com:8443/x", secret: { secret: h } }\n',
    );
    expect(egressPorts(config)).toEqual([143, 443, 993, 1993, 8443]);
  });
});
