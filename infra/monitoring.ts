/**
 * The MailboxProcessor's alarms and dashboard: what tells an operator that
 * mail is failing, piling up or no longer being polled.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { PostroomConfig } from '#lib/config/schema.ts';
import { pollGroups, scheduleInterval } from './deploy-config.ts';
import type { MailboxProcessor, MailboxProcessorAlarms, MailboxProcessorProps } from './mailbox-processor.ts';
import { METRICS_NAMESPACE, MetricNames, SERVICE_NAME } from './metrics.ts';

/** The alarms of a MailboxProcessor: dead letters, queue age, function errors, and per poll group errors and staleness. */
export function createAlarms(
  processor: MailboxProcessor,
  config: PostroomConfig,
  props: MailboxProcessorProps,
): MailboxProcessorAlarms {
  const actions = props.alarmActions ?? [];
  const withActions = (alarm: cloudwatch.Alarm): cloudwatch.Alarm => {
    alarm.addAlarmAction(...actions);
    return alarm;
  };

  const deadLetterQueueNotEmpty = withActions(
    new cloudwatch.Alarm(processor, 'DeadLetterQueueNotEmptyAlarm', {
      alarmDescription: 'Postroom: messages failed processing and were moved to the dead-letter queue.',
      metric: processor.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
  const ageThreshold = props.oldestMessageAgeThreshold ?? Duration.minutes(30);
  const oldestMessageAge = withActions(
    new cloudwatch.Alarm(processor, 'OldestMessageAgeAlarm', {
      alarmDescription: `Postroom: a queued message has waited more than ${ageThreshold.toHumanString()} (processing is behind or stuck).`,
      metric: processor.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: ageThreshold.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
  const pollFunctionErrors = withActions(
    new cloudwatch.Alarm(processor, 'PollFunctionErrorsAlarm', {
      alarmDescription: 'Postroom: the poll function failed (an uncaught error or a timeout).',
      metric: processor.pollFunction.metricErrors({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  const pollErrors: Record<string, cloudwatch.Alarm> = {};
  const pollStale: Record<string, cloudwatch.Alarm> = {};
  for (const group of pollGroups(config)) {
    const interval = scheduleInterval(group.schedule);
    const { period, evaluationPeriods } = alarmWindow(interval.seconds);
    const alone = group.accounts.length === 1 && group.id === group.accounts[0];
    // A group reports as one (dimension `group`): per-account series and alarms would
    // cost more than polling the accounts; its accounts' failures are log lines.
    const dimensionsMap: Record<string, string> = alone
      ? { service: SERVICE_NAME, account: group.id }
      : { service: SERVICE_NAME, group: group.id };
    const what = alone ? `account ${group.id}` : `poll group ${group.id} (${group.accounts.length} accounts)`;
    pollErrors[group.id] = withActions(
      new cloudwatch.Alarm(processor, `PollErrorsAlarm-${group.id}`, {
        alarmDescription: `Postroom: polling ${what} failed in two of the last three intervals.`,
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: MetricNames.PollErrors,
          dimensionsMap,
          period,
          statistic: cloudwatch.Stats.SUM,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    // A dead-man switch: no PollSucceeded data point at all is what "not polled" looks like.
    pollStale[group.id] = withActions(
      new cloudwatch.Alarm(processor, `PollStaleAlarm-${group.id}`, {
        alarmDescription:
          `Postroom: ${what} has not been polled successfully for three schedule intervals` +
          (interval.exact ? '.' : ' (schedule assumed daily: the cron expression was too unusual to read).'),
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: MetricNames.PollSucceeded,
          dimensionsMap,
          period,
          statistic: cloudwatch.Stats.SUM,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );
  }
  return { deadLetterQueueNotEmpty, oldestMessageAge, pollFunctionErrors, pollErrors, pollStale };
}

/** The MailboxProcessor's CloudWatch dashboard. */
export function createDashboard(
  processor: MailboxProcessor,
  props: MailboxProcessorProps,
): cloudwatch.Dashboard {
  // SEARCH finds every account/mailbox series whatever dimensions it carries, so the
  // dashboard follows accounts added later without a redeploy.
  const search = (metricName: string, statistic: string, label: string) =>
    new cloudwatch.MathExpression({
      expression: `SEARCH('Namespace="${METRICS_NAMESPACE}" MetricName="${metricName}"', '${statistic}', 300)`,
      label,
      period: Duration.minutes(5),
    });
  const dashboard = new cloudwatch.Dashboard(processor, 'Dashboard', {
    ...(props.dashboardName === undefined ? {} : { dashboardName: props.dashboardName }),
    defaultInterval: Duration.days(1),
  });
  const alarms = processor.alarms;
  dashboard.addWidgets(
    new cloudwatch.AlarmStatusWidget({
      title: 'Alarms',
      width: 24,
      height: 4,
      alarms: [
        alarms.deadLetterQueueNotEmpty,
        alarms.oldestMessageAge,
        alarms.pollFunctionErrors,
        ...Object.values(alarms.pollErrors),
        ...Object.values(alarms.pollStale),
      ],
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Messages ingested',
      width: 12,
      left: [search(MetricNames.MessagesIngested, 'Sum', 'Ingested')],
    }),
    new cloudwatch.GraphWidget({
      title: 'Mailbox lag (UIDNEXT − 1 − last processed UID)',
      width: 12,
      left: [search(MetricNames.MailboxLag, 'Maximum', 'Lag')],
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Rule matches',
      width: 12,
      left: [search(MetricNames.RuleMatches, 'Sum', 'Matches')],
    }),
    new cloudwatch.GraphWidget({
      title: 'Actions applied',
      width: 12,
      left: [search(MetricNames.ActionsApplied, 'Sum', 'Actions')],
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Errors',
      width: 12,
      left: [
        search(MetricNames.PollErrors, 'Sum', 'Poll errors'),
        search(MetricNames.ProcessErrors, 'Sum', 'Process errors'),
      ],
      right: [
        processor.pollFunction.metricErrors({ label: 'Poll function errors', period: Duration.minutes(5) }),
        processor.processFunction.metricErrors({
          label: 'Process function errors',
          period: Duration.minutes(5),
        }),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: 'Queues',
      width: 12,
      left: [
        processor.queue.metricApproximateNumberOfMessagesVisible({
          label: 'Queued',
          period: Duration.minutes(5),
        }),
        processor.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          label: 'Dead letters',
          period: Duration.minutes(5),
        }),
      ],
      right: [
        processor.queue.metricApproximateAgeOfOldestMessage({
          label: 'Oldest message age (s)',
          period: Duration.minutes(5),
        }),
      ],
    }),
  );
  return dashboard;
}

/**
 * Period and evaluation periods for "no successful poll in three intervals".
 * CloudWatch wants periods in whole minutes, at most a day, and three periods
 * of at most a week in all.
 */
function alarmWindow(intervalSeconds: number): { period: Duration; evaluationPeriods: number } {
  const DAY = 86_400;
  const seconds = Math.max(60, Math.ceil(intervalSeconds / 60) * 60);
  if (seconds <= DAY) return { period: Duration.seconds(seconds), evaluationPeriods: 3 };
  return { period: Duration.days(1), evaluationPeriods: Math.min(7, Math.ceil((3 * seconds) / DAY)) };
}
