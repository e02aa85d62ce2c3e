/**
 * The repo's own stack: one `MailboxProcessor` and the outputs a user needs
 * to find it (bucket, queues, table, bus, functions, dashboard).
 */

import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { PostroomConfig } from '#lib/config/schema.ts';
import type { FunctionNetworkProps } from './function-network.ts';
import { type FunctionSources, MailboxProcessor } from './mailbox-processor.ts';

/** The stack's props; `vpc`, `vpcSubnets` and `securityGroups` go to the construct as they are. */
export interface PostroomStackProps extends StackProps, FunctionNetworkProps {
  /** The validated config. */
  readonly config: PostroomConfig;
  /**
   * An existing SNS topic every alarm notifies.
   * @default none: alarms change state in CloudWatch only
   */
  readonly alarmTopicArn?: string;
  /**
   * The handlers to bundle.
   * @default this package's `functions/poll.ts` and `functions/process.ts`
   */
  readonly functionSources?: FunctionSources;
  /**
   * An existing VPC by id, for the app's `-c vpcId=… -c vpcSubnetIds=…`
   * context (no lookup: the stack stays environment-agnostic). Ignored when
   * `vpc` is given.
   */
  readonly existingVpc?: {
    readonly vpcId: string;
    readonly subnetIds: string[];
    /** @default a new group allowing only IMAP and 443 out */
    readonly securityGroupIds?: string[];
  };
}

/** The construct's network props from `existingVpc`, imported by id. */
function importedNetwork(scope: Construct, existing: NonNullable<PostroomStackProps['existingVpc']>) {
  const subnets = existing.subnetIds.map((id, index) => ec2.Subnet.fromSubnetId(scope, `Subnet${index}`, id));
  const securityGroups = (existing.securityGroupIds ?? []).map((id, index) =>
    ec2.SecurityGroup.fromSecurityGroupId(scope, `SecurityGroup${index}`, id),
  );
  return {
    vpc: ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
      vpcId: existing.vpcId,
      // A token (no lookup); the subnets are given by id, so nothing selects by zone.
      availabilityZones: Fn.getAzs(),
    }),
    vpcSubnets: { subnets },
    ...(securityGroups.length > 0 ? { securityGroups } : {}),
  };
}

export class PostroomStack extends Stack {
  readonly processor: MailboxProcessor;

  constructor(scope: Construct, id: string, props: PostroomStackProps) {
    super(scope, id, props);
    const alarmActions =
      props.alarmTopicArn === undefined
        ? undefined
        : [new SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn))];
    const network =
      props.vpc === undefined && props.existingVpc ? importedNetwork(this, props.existingVpc) : props;
    this.processor = new MailboxProcessor(this, 'Mail', {
      config: props.config,
      ...(alarmActions ? { alarmActions } : {}),
      ...(props.functionSources ? { functionSources: props.functionSources } : {}),
      ...(network.vpc ? { vpc: network.vpc } : {}),
      ...(network.vpcSubnets ? { vpcSubnets: network.vpcSubnets } : {}),
      ...(network.securityGroups ? { securityGroups: network.securityGroups } : {}),
    });
    const p = this.processor;
    const outputs: Record<string, [string, string]> = {
      MailBucketName: [p.bucket.bucketName, 'Raw mail and saved attachments'],
      IngestQueueUrl: [p.queue.queueUrl, 'The ingest queue'],
      DeadLetterQueueUrl: [p.deadLetterQueue.queueUrl, 'Messages that failed processing'],
      StateTableName: [p.table.tableName, 'Checkpoints, leases and idempotency records'],
      EventBusName: [p.eventBus.eventBusName, 'Where emit actions put events'],
      PollFunctionName: [p.pollFunction.functionName, 'The poll function'],
      ProcessFunctionName: [p.processFunction.functionName, 'The process function'],
      PollLogGroupName: [p.pollLogGroup.logGroupName, 'Logs of the poll function'],
      ProcessLogGroupName: [p.processLogGroup.logGroupName, 'Logs of the process function'],
      DashboardUrl: [
        Fn.join('', [
          'https://console.aws.amazon.com/cloudwatch/home?region=',
          this.region,
          '#dashboards:name=',
          p.dashboard.dashboardName,
        ]),
        'The CloudWatch dashboard',
      ],
    };
    for (const [name, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, name, { value, description });
    }
  }
}
