/**
 * OAuth2 accounts in a deployment: their secrets (client secret, refresh
 * token, service account key) are IMAP credentials both functions read, and
 * only the refresh tokens an endpoint may rotate can be written back.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { findSecretRefs } from '../../infra/deploy-config.ts';
import { MailboxProcessor } from '../../infra/mailbox-processor.ts';
import { cdkJsonContext } from './helpers.ts';

const CONFIG = `
accounts:
  - id: support
    host: imap.gmail.com
    auth:
      user: support@example.com
      method: xoauth2
      oauth2:
        provider: google
        clientId: 1234.apps.googleusercontent.com
        clientSecret: { secret: postroom/google-client-secret }
        refreshToken: { secret: postroom/support-refresh-token }
  - id: invoices
    host: outlook.office365.com
    auth:
      user: invoices@contoso.com
      method: xoauth2
      oauth2:
        provider: microsoft
        grant: client_credentials
        tenant: contoso.onmicrosoft.com
        clientId: 00000000-0000-0000-0000-000000000000
        clientSecret: { secret: postroom/m365-client-secret }
rules:
  - name: hook
    then:
      - webhook: { url: "https://hooks.slack.com/in", secret: { secret: postroom/hook } }
`;

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };

function statements(template: Template, rolePrefix: string): Statement[] {
  const roles = template.findResources('AWS::IAM::Role');
  const roleId = Object.keys(roles).find((id) => id.startsWith(rolePrefix))!;
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** The secret names in a statement's resources (`...:secret:NAME-??????`). */
const secretNames = (statement: Statement | undefined) =>
  JSON.stringify(statement?.Resource ?? [])
    .match(/:secret:[^"]+?-\?{6}/g)
    ?.map((arn) => arn.slice(':secret:'.length, -7))
    .sort() ?? [];

describe('OAuth2 accounts in the MailboxProcessor', () => {
  it("counts every oauth2 secret as the account's credential, and marks the rotating refresh token", () => {
    const refs = findSecretRefs(parseConfig(CONFIG));
    expect(refs).toEqual([
      {
        path: 'accounts[0].auth.oauth2.clientSecret',
        account: 'support',
        ref: { secret: 'postroom/google-client-secret' },
      },
      {
        path: 'accounts[0].auth.oauth2.refreshToken',
        account: 'support',
        ref: { secret: 'postroom/support-refresh-token' },
        rotated: true,
      },
      {
        path: 'accounts[1].auth.oauth2.clientSecret',
        account: 'invoices',
        ref: { secret: 'postroom/m365-client-secret' },
      },
      { path: 'rules[0].then[0].webhook.secret', ref: { secret: 'postroom/hook' } },
    ]);
  });

  it('lets both functions read the OAuth2 secrets and write back exactly the refresh-token secret', () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'OAuth2');
    new MailboxProcessor(stack, 'Mail', { config: parseConfig(CONFIG) });
    const template = Template.fromStack(stack);

    for (const role of ['MailPollRole', 'MailProcessRole']) {
      const all = statements(template, role);
      const read = all.find((s) => s.Sid === 'ReadConfiguredSecrets');
      const write = all.filter((s) => JSON.stringify(s.Action).includes('secretsmanager:PutSecretValue'));
      expect(secretNames(read)).toEqual(
        [
          'postroom/google-client-secret',
          'postroom/m365-client-secret',
          'postroom/support-refresh-token',
          ...(role === 'MailProcessRole' ? ['postroom/hook'] : []),
        ].sort(),
      );
      expect(write).toHaveLength(1);
      expect(write[0]!.Action).toBe('secretsmanager:PutSecretValue');
      expect(secretNames(write[0])).toEqual(['postroom/support-refresh-token']);
    }
  });
});
