/**
 * The MailboxProcessor's IAM grants, least privilege: each function gets the
 * actions it uses, on its resources only, with the cdk-nag acknowledgements.
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { PostroomConfig } from '#lib/config/schema.ts';
import { findSecretRefs } from './deploy-config.ts';
import type { MailboxProcessor } from './mailbox-processor.ts';

/** Least privilege: each function gets the actions it uses, on its resources only. */
export function grantAccess(processor: MailboxProcessor, config: PostroomConfig): void {
  const stack = Stack.of(processor);
  const bucketLogicalId = stack.getLogicalId(processor.bucket.node.defaultChild as s3.CfnBucket);

  // Poll: writes raw mail under raw/ (multipart for large messages), may check a key exists.
  processor.pollRole.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WriteRawMail',
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
      resources: [processor.bucket.arnForObjects('raw/*')],
    }),
  );
  // Process: reads raw mail, saves attachments wherever the rules say within the bucket.
  processor.processRole.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadMailWriteAttachments',
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      resources: [processor.bucket.arnForObjects('*')],
    }),
  );
  for (const role of [processor.pollRole, processor.processRole]) {
    // Without ListBucket a missing key answers 403 instead of 404 (HeadObject in `exists`).
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListMailBucket',
        actions: ['s3:ListBucket'],
        resources: [processor.bucket.bucketArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'StateTable',
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
          'dynamodb:BatchGetItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [processor.table.tableArn],
      }),
    );
  }
  processor.queue.grantSendMessages(processor.pollRole);
  processor.eventBus.grantPutEventsTo(processor.processRole);
  // Change events (`changes: true`): the poller keeps its flag state under state/changes/ and emits them.
  if (config.accounts.some((a) => a.mailboxes.some((m) => typeof m !== 'string' && m.changes === true))) {
    processor.pollRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ChangeEventState',
        actions: ['s3:PutObject', 's3:GetObject'],
        resources: [processor.bucket.arnForObjects('state/changes/*')],
      }),
    );
    processor.eventBus.grantPutEventsTo(processor.pollRole);
    Validations.of(processor.pollRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(processor.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/state/changes/*]`,
      reason:
        'Change-event state keys are state/changes/<account>/<mailbox>/<uidValidity>.json, one per mailbox.',
    });
  }

  // Secrets: IMAP credentials (passwords, OAuth2 client secrets, refresh tokens, service
  // account keys) for both functions (the processor applies IMAP actions too), every
  // other reference (webhook secrets) for the processor only. Refresh tokens an endpoint
  // may rotate are written back by whichever function refreshed: those secrets alone
  // get PutSecretValue.
  const secretArn = (nameOrArn: string): string =>
    nameOrArn.startsWith('arn:')
      ? nameOrArn
      : // Secrets Manager appends a dash and six random characters to a secret's name in its ARN.
        stack.formatArn({
          service: 'secretsmanager',
          resource: 'secret',
          resourceName: `${nameOrArn}-??????`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        });
  const imapSecrets = new Set<string>();
  const otherSecrets = new Set<string>();
  const rotatedSecrets = new Set<string>();
  for (const use of findSecretRefs(config)) {
    if (!('secret' in use.ref)) continue;
    (use.account === undefined ? otherSecrets : imapSecrets).add(secretArn(use.ref.secret));
    if (use.rotated) rotatedSecrets.add(secretArn(use.ref.secret));
  }
  const grantSecrets = (role: iam.Role, arns: Set<string>, write = false) => {
    if (arns.size === 0) return;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: write ? 'WriteRotatedRefreshTokens' : 'ReadConfiguredSecrets',
        actions: [write ? 'secretsmanager:PutSecretValue' : 'secretsmanager:GetSecretValue'],
        resources: [...arns].sort(),
      }),
    );
  };
  grantSecrets(processor.pollRole, imapSecrets);
  grantSecrets(processor.processRole, new Set([...imapSecrets, ...otherSecrets]));
  grantSecrets(processor.pollRole, rotatedSecrets, true);
  grantSecrets(processor.processRole, rotatedSecrets, true);

  // cdk-nag flags any `*` in a resource. These are object keys inside our own bucket.
  Validations.of(processor.pollRole).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/raw/*]`,
    reason: 'Raw mail keys are raw/<account>/<mailbox>/<uidValidity>/<uid>.eml, one object per message.',
  });
  Validations.of(processor.processRole).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/*]`,
    reason:
      'The processor reads raw mail and saves attachments under keys the rules choose, all in processor bucket.',
  });
}
