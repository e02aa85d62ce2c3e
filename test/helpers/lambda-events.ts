/**
 * What the Lambda runtime hands a handler, built by hand for tests and
 * benchmarks that invoke the handlers in-process: an SQS event's record for a
 * message received from the queue (emulator), and an invocation context.
 */
import type { Message } from '@aws-sdk/client-sqs';
import type { Context, SQSRecord } from 'aws-lambda';

/** The SQS event record Lambda's event source mapping would make of `message`. */
export function sqsRecord(message: Message): SQSRecord {
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body!,
    attributes: { ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1' },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody!,
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:postroom',
    awsRegion: 'us-east-1',
  } as unknown as SQSRecord;
}

/** An invocation context with `budgetMs` left from now. */
export function lambdaContext(functionName: string, budgetMs: number): Context {
  const deadline = Date.now() + budgetMs;
  return {
    awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
    functionName,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as unknown as Context;
}
