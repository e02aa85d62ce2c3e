/**
 * Global setup of the `integration` project: one private Dovecot (with its
 * capability variants and an oauth2 instance), the OAuth2 server that instance
 * asks, and the S3, SQS and DynamoDB emulators, all on
 * loopback and free ports, shared by every test file through `inject()`.
 * Each test file makes its own users, mailboxes, buckets, queues and tables.
 */
import type { TestProject } from 'vitest/node';
import { type DovecotInfo, startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { startDynamoEmulator } from './dynamo-emulator.ts';
import { startS3Emulator, startSqsEmulator } from './emulators.ts';
import { startOAuthServer } from './oauth-server.ts';

export interface EmulatorEndpoints {
  s3: string;
  sqs: string;
  dynamodb: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** `oauth`: the URL of the OAuth2 server (`oauth-server.ts`) the `oauth2` Dovecot instance asks. */
    servers: { dovecot: DovecotInfo; emulators: EmulatorEndpoints; oauth: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const oauth = await startOAuthServer();
  const [dovecot, s3, sqs, dynamodb] = await Promise.all([
    startPrivateDovecot({ variants: true, oauth2: { introspectionUrl: `${oauth.url}/introspect` } }),
    startS3Emulator(),
    startSqsEmulator(),
    startDynamoEmulator(),
  ]);
  const { addUser: _addUser, stop: _stop, ...info } = dovecot;
  project.provide('servers', {
    dovecot: info,
    emulators: { s3: s3.endpoint, sqs: sqs.endpoint, dynamodb: dynamodb.endpoint },
    oauth: oauth.url,
  });
  return async () => {
    await Promise.allSettled([dovecot.stop(), s3.stop(), sqs.stop(), dynamodb.stop(), oauth.stop()]);
  };
}
