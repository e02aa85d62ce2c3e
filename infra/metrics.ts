/**
 * The metrics contract between the functions (which publish them with
 * Powertools Metrics, as CloudWatch embedded metric format in their logs) and
 * the alarms and dashboard (which read them). No CDK here, so the functions
 * can import the names too.
 *
 * CloudWatch identifies a metric by its namespace, name and its exact set of
 * dimensions. Powertools always adds `service` (from `POWERTOOLS_SERVICE_NAME`),
 * so every metric below carries `service: postroom` plus the dimensions listed.
 */

/** `POWERTOOLS_METRICS_NAMESPACE` of both functions. */
export const METRICS_NAMESPACE = 'Postroom';

/** `POWERTOOLS_SERVICE_NAME`, and the `service` dimension Powertools adds to every metric. */
export const SERVICE_NAME = 'postroom';

/** Metric names, with the dimensions each is published with (besides `service`). */
export const MetricNames = {
  /** Count of messages stored and queued by a poll. Dimensions: account, mailbox. */
  MessagesIngested: 'MessagesIngested',
  /** 1 per poll that failed. Dimensions: account. */
  PollErrors: 'PollErrors',
  /** 1 per poll that completed, also when nothing was new (the dead-man alarm watches it). Dimensions: account. */
  PollSucceeded: 'PollSucceeded',
  /** UIDNEXT − 1 − the last UID processed, after a poll. Dimensions: account, mailbox. */
  MailboxLag: 'MailboxLag',
  /** Count of rule matches. Dimensions: account. */
  RuleMatches: 'RuleMatches',
  /** Count of actions applied (IMAP and outward). Dimensions: account. */
  ActionsApplied: 'ActionsApplied',
  /** Count of queue messages whose processing failed. Dimensions: account. */
  ProcessErrors: 'ProcessErrors',
} as const;

export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];
