/**
 * Fleets in the construct: one schedule (and one pair of alarms) per group of
 * accounts sharing a schedule, `aws.poller.accountsPerInvocation` accounts per
 * group or sized automatically. Synthesised without bundling (fast).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { pollGroups } from '../../infra/deploy-config.ts';
import { MailboxProcessor } from '../../infra/mailbox-processor.ts';
import { cdkJsonContext } from './helpers.ts';

function fleetYaml(count: number, aws: string, schedule = (_i: number) => 'rate(5 minutes)'): string {
  const accounts = Array.from(
    { length: count },
    (_, i) =>
      `  - { id: u${i}, host: h, auth: { user: u${i}, password: { secret: s${i} } }, schedule: "${schedule(i)}" }`,
  );
  return `accounts:\n${accounts.join('\n')}\n${aws ? `aws: ${aws}\n` : ''}`;
}

function synth(yaml: string): { template: Template; construct: MailboxProcessor } {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Fleet');
  const construct = new MailboxProcessor(stack, 'Mail', { config: parseConfig(yaml) });
  return { template: Template.fromStack(stack), construct };
}

function ruleInputs(template: Template): { schedule: string; input: Record<string, unknown> }[] {
  return Object.values(template.findResources('AWS::Events::Rule')).map((rule) => ({
    schedule: rule.Properties.ScheduleExpression as string,
    input: JSON.parse((rule.Properties.Targets as { Input: string }[])[0]!.Input) as Record<string, unknown>,
  }));
}

describe('poll groups', () => {
  it('creates one schedule per group of accountsPerInvocation accounts, each invoked with { group, accounts }', () => {
    // Act
    const { template, construct } = synth(fleetYaml(10, '{ poller: { accountsPerInvocation: 4 } }'));

    // Assess: 10 accounts in groups of at most 4, as even as possible (4, 3, 3), in config order.
    const inputs = ruleInputs(template);
    expect(inputs).toEqual([
      { schedule: 'rate(5 minutes)', input: { group: 'poll-group-1', accounts: ['u0', 'u1', 'u2', 'u3'] } },
      { schedule: 'rate(5 minutes)', input: { group: 'poll-group-2', accounts: ['u4', 'u5', 'u6'] } },
      { schedule: 'rate(5 minutes)', input: { group: 'poll-group-3', accounts: ['u7', 'u8', 'u9'] } },
    ]);
    expect(Object.keys(construct.schedules)).toEqual(['poll-group-1', 'poll-group-2', 'poll-group-3']);
    // Alarms per group, on the group's dimension: two per schedule plus the three shared ones.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3 * 2 + 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'PollSucceeded',
      Dimensions: [
        { Name: 'group', Value: 'poll-group-2' },
        { Name: 'service', Value: 'postroom' },
      ],
    });
  });

  it('never puts accounts with different schedules in one group', () => {
    const groups = pollGroups(
      parseConfig(
        fleetYaml(5, '{ poller: { accountsPerInvocation: 10 } }', (i) =>
          i % 2 === 0 ? 'rate(5 minutes)' : 'rate(1 minutes)',
        ),
      ),
    );
    expect(groups.map((g) => [g.schedule, g.accounts])).toEqual([
      ['rate(5 minutes)', ['u0', 'u2', 'u4']],
      ['rate(1 minute)', ['u1', 'u3']],
    ]);
  });

  it('sizes groups automatically when unset: alone up to `concurrency` accounts, then at most 8 × concurrency', () => {
    const sizes = (count: number, aws = '') =>
      pollGroups(parseConfig(fleetYaml(count, aws))).map((g) => g.accounts.length);
    expect(sizes(16)).toEqual(Array(16).fill(1));
    expect(sizes(17)).toEqual([17]);
    // 1,000 accounts, concurrency 16: 8 groups of at most 128 (125 each).
    expect(sizes(1000)).toEqual(Array(8).fill(125));
    expect(sizes(1001)).toEqual([126, ...Array(7).fill(125)]);
    expect(sizes(100, '{ poller: { concurrency: 5 } }')).toEqual([34, 33, 33]);
  });

  it('keeps an account alone on its own schedule with { account } and per-account alarms', () => {
    const { template, construct } = synth(fleetYaml(2, '{ poller: { accountsPerInvocation: 1 } }'));
    expect(ruleInputs(template).map((r) => r.input)).toEqual([{ account: 'u0' }, { account: 'u1' }]);
    expect(Object.keys(construct.alarms.pollStale)).toEqual(['u0', 'u1']);
  });
});
