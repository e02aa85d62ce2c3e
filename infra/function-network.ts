/**
 * Where the functions run on the network: outside any VPC (the default: they
 * reach public IMAP servers and AWS APIs directly), or in the VPC a user
 * gives, for a server reachable only privately or one that allow-lists a
 * NAT gateway's address. In a VPC, without security groups given, one is
 * created that lets out only what Postroom connects to: the accounts' IMAP
 * ports and 443 (AWS APIs, token endpoints, webhooks).
 */
import { Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

export interface FunctionNetworkProps {
  /**
   * The VPC both functions run in. Its subnets need a route to the IMAP
   * servers and to AWS (a NAT gateway, or VPC endpoints; see "Network reach"
   * in the README).
   * @default none: the functions run outside any VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The subnets, with `vpc`.
   * @default the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups for the functions, with `vpc`.
   * @default a new group allowing outbound TCP to the configured IMAP ports and 443 only
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
}

/** The VPC settings of a `NodejsFunction`, or none. */
export interface FunctionNetwork {
  functionProps: { vpc?: ec2.IVpc; vpcSubnets?: ec2.SubnetSelection; securityGroups?: ec2.ISecurityGroup[] };
  /** The functions' security groups (empty outside a VPC). */
  securityGroups: ec2.ISecurityGroup[];
  /** Lets a function's own role manage its network interfaces (Lambda needs it to join a VPC). */
  grantNetworkInterfaces(role: iam.Role): void;
}

export function functionNetwork(
  scope: Construct,
  props: FunctionNetworkProps,
  ports: number[],
): FunctionNetwork {
  const { vpc } = props;
  if (!vpc) {
    if (props.vpcSubnets || props.securityGroups) {
      throw new Error('MailboxProcessor: vpcSubnets and securityGroups need vpc');
    }
    return { functionProps: {}, securityGroups: [], grantNetworkInterfaces: () => {} };
  }
  let securityGroups = props.securityGroups;
  if (!securityGroups || securityGroups.length === 0) {
    const group = new ec2.SecurityGroup(scope, 'FunctionSecurityGroup', {
      vpc,
      description: `Postroom functions: outbound TCP ${ports.join(', ')} only`,
      allowAllOutbound: false,
    });
    for (const port of ports) {
      const what = port === 443 ? 'https (AWS APIs, token endpoints, webhooks)' : 'IMAP';
      group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), `${what} over IPv4`);
      group.addEgressRule(ec2.Peer.anyIpv6(), ec2.Port.tcp(port), `${what} over IPv6`);
    }
    securityGroups = [group];
  }
  return {
    functionProps: {
      vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups,
    },
    securityGroups,
    grantNetworkInterfaces: (role) => {
      // What AWSLambdaVPCAccessExecutionRole grants, inline: the functions' roles carry no managed policy.
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'VpcNetworkInterfaces',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Lambda creates and deletes the network interfaces of a function in a VPC; these EC2 actions take no resource ARN at creation.',
      });
    },
  };
}
