/**
 * Global setup of the `integration` project: one private Dovecot (with its
 * capability variants) and the S3, SQS and DynamoDB emulators, all on
 * loopback and free ports, shared by every test file through `inject()`.
 * Each test file makes its own users, mailboxes, buckets, queues and tables.
 */
import type { TestProject } from 'vitest/node';
import { type DovecotInfo, startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { startDynamoEmulator } from './dynamo-emulator.ts';
import { startS3Emulator, startSqsEmulator } from './emulators.ts';

export interface EmulatorEndpoints {
  s3: string;
  sqs: string;
  dynamodb: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: { dovecot: DovecotInfo; emulators: EmulatorEndpoints };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [dovecot, s3, sqs, dynamodb] = await Promise.all([
    startPrivateDovecot({ variants: true }),
    startS3Emulator(),
    startSqsEmulator(),
    startDynamoEmulator(),
  ]);
  const { addUser: _addUser, stop: _stop, ...info } = dovecot;
  project.provide('servers', {
    dovecot: info,
    emulators: { s3: s3.endpoint, sqs: sqs.endpoint, dynamodb: dynamodb.endpoint },
  });
  return async () => {
    await Promise.allSettled([dovecot.stop(), s3.stop(), sqs.stop(), dynamodb.stop()]);
  };
}
