/**
 * AWS client settings shared by every AWS adapter.
 *
 * No endpoint is ever set here: the SDK reads the standard
 * `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_DYNAMODB`
 * variables on its own, so the very same Lambda bundle talks to AWS in
 * production and to emulators in tests (DESIGN.md, "Lambda environment").
 * Checksum behaviour follows the SDK's own `AWS_REQUEST_CHECKSUM_CALCULATION` /
 * `AWS_RESPONSE_CHECKSUM_VALIDATION` variables.
 *
 * Only types are imported from the SDK, so a function that needs DynamoDB alone
 * does not bundle the S3 and SQS clients.
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { SQSClientConfig } from '@aws-sdk/client-sqs';

/** The settings every AWS client gets. */
export interface AwsClientConfig {
  /** From `AWS_REGION` (set by Lambda), else `AWS_DEFAULT_REGION`. @default us-east-1 */
  region: string;
}

/** Settings read from the environment for any AWS client. */
export function awsClientConfig(env: NodeJS.ProcessEnv = process.env): AwsClientConfig {
  return { region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1' };
}

export interface S3ClientOptions {
  /**
   * Address buckets as `<endpoint>/<bucket>/<key>` instead of
   * `<bucket>.<endpoint>/<key>`. Emulators on `127.0.0.1:<port>` need it, since a
   * virtual-hosted bucket name would have to resolve in DNS.
   * @default true when `POSTROOM_S3_FORCE_PATH_STYLE` is `1` or `true`
   */
  forcePathStyle?: boolean;
}

/** Settings for an S3 client: `awsClientConfig()` plus path-style addressing when asked for. */
export function s3ClientConfig(
  options: S3ClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): S3ClientConfig & AwsClientConfig {
  const fromEnv = env.POSTROOM_S3_FORCE_PATH_STYLE === '1' || env.POSTROOM_S3_FORCE_PATH_STYLE === 'true';
  const forcePathStyle = options.forcePathStyle ?? fromEnv;
  return { ...awsClientConfig(env), ...(forcePathStyle ? { forcePathStyle: true } : {}) };
}

/** Settings for an SQS client. */
export function sqsClientConfig(env: NodeJS.ProcessEnv = process.env): SQSClientConfig & AwsClientConfig {
  return awsClientConfig(env);
}
