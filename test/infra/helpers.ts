/**
 * Shared by the infra tests: the app context of `cdk.json` (so tests see the
 * same feature flags as `cdk synth`) and small readers of synthesised output.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** The `context` of the repo's cdk.json: feature flags as the CLI applies them. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** Every file under `dir`, recursively. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** A private CA's certificate (public by nature; its key was thrown away): the fixture's `tlsOptions.ca`. */
export const FIXTURE_CA_FILE = join(REPO_ROOT, 'test', 'infra', 'fixtures', 'private-ca.pem');

/** A config whose secrets all come from Secrets Manager, with tuned deployment settings. */
export const FIXTURE_CONFIG = `
accounts:
  - id: work
    host: imap.fastmail.com
    auth: { user: postroom@example.com, password: { secret: postroom/work/imap } }
    mailboxes: [INBOX, Receipts]
    schedule: rate(5 minutes)
  - id: home
    host: mail.gandi.net
    tlsOptions: { ca: ${JSON.stringify(FIXTURE_CA_FILE)} }
    auth:
      user: me@example.net
      password: { secret: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:postroom/home-AbCdEf" }
    schedule: cron(0/15 * * * ? *)
rules:
  - name: invoices
    when: { subject: { contains: invoice } }
    then:
      - webhook: { url: "https://hooks.slack.com/invoices", secret: { secret: postroom/webhook } }
aws:
  rawMailExpireDays: 30
  poller: { timeoutSeconds: 240, memoryMb: 768 }
  processor:
    batchSize: 25
    batchingWindowSeconds: 5
    maxConcurrency: 3
    maxReceives: 4
    timeoutSeconds: 90
    memoryMb: 1024
  logRetentionDays: 14
`;
