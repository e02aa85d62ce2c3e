/**
 * Public list prices the cost benchmark multiplies by: us-east-1, on-demand,
 * Lambda on Arm, no free tier, no savings plans. Each with its source page and
 * the date it was read. These were taken from the pages named (as listed in
 * 2025; DynamoDB's on-demand prices are those after the November 2024
 * reduction); check them before relying on a figure, and change them here.
 */
export interface Price {
  usd: number;
  per: string;
  source: string;
  date: string;
}

const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const SQS = 'https://aws.amazon.com/sqs/pricing/';
const S3 = 'https://aws.amazon.com/s3/pricing/';
const DYNAMODB = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';
const EVENTBRIDGE = 'https://aws.amazon.com/eventbridge/pricing/';
const SECRETS = 'https://aws.amazon.com/secrets-manager/pricing/';
const CLOUDWATCH = 'https://aws.amazon.com/cloudwatch/pricing/';
const DATE = '2025 list price';

export const PRICES = {
  lambdaRequest: { usd: 0.2 / 1e6, per: 'request', source: LAMBDA, date: DATE },
  /** Arm (Graviton), first 7.5 billion GB-s a month. */
  lambdaGbSecondArm: { usd: 0.0000133334, per: 'GB-second', source: LAMBDA, date: DATE },
  /** Standard queue, beyond the first million a month; each 64 KB chunk of a request is one request. */
  sqsRequest: { usd: 0.4 / 1e6, per: 'request', source: SQS, date: DATE },
  /** S3 Standard: PUT, COPY, POST, LIST. */
  s3Put: { usd: 0.005 / 1000, per: 'request', source: S3, date: DATE },
  /** S3 Standard: GET, HEAD and the rest. */
  s3Get: { usd: 0.0004 / 1000, per: 'request', source: S3, date: DATE },
  s3StorageGbMonth: { usd: 0.023, per: 'GB-month', source: S3, date: DATE },
  /** One write request unit: a write of up to 1 KB (a conditional write that fails consumes it too). */
  dynamoWrite: { usd: 0.625 / 1e6, per: 'write request unit', source: DYNAMODB, date: DATE },
  /** One read request unit: a strongly consistent read of up to 4 KB (eventually consistent: half). */
  dynamoRead: { usd: 0.125 / 1e6, per: 'read request unit', source: DYNAMODB, date: DATE },
  /** Custom events put on a bus, per 64 KB chunk. Scheduled rules (the poll schedules) are free. */
  eventBridgeEvent: { usd: 1 / 1e6, per: 'event', source: EVENTBRIDGE, date: DATE },
  secretsApiCall: { usd: 0.05 / 10_000, per: 'API call', source: SECRETS, date: DATE },
  secretMonth: { usd: 0.4, per: 'secret-month', source: SECRETS, date: DATE },
  /** Standard log class ingestion (the Lambda log groups). */
  logsIngestGb: { usd: 0.5, per: 'GB ingested', source: CLOUDWATCH, date: DATE },
  /** First 10,000 metrics; billed by the hour a metric is sent (prorated). */
  metricMonth: { usd: 0.3, per: 'metric-month', source: CLOUDWATCH, date: DATE },
  /** Standard-resolution alarm, per metric it watches. */
  alarmMonth: { usd: 0.1, per: 'alarm-month', source: CLOUDWATCH, date: DATE },
} as const satisfies Record<string, Price>;
