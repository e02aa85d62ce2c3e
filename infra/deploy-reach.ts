/**
 * Settings that validate, run on one machine, and cannot work once deployed:
 * a host Lambda can never reach (loopback; a private address without a VPC),
 * a placeholder host left from the sample config, IDLE (a Lambda invocation
 * cannot hold a connection open), and a plain-http webhook. Pure: `path:
 * message` lines for `deploymentProblems`.
 */
import { isIP } from 'node:net';
import type { PostroomConfig } from '#lib/config/schema.ts';

/** What the deployment knows beyond the config. */
export interface DeployTarget {
  /** The functions run in a VPC (the construct's `vpc` prop, the app's `-c vpcId`). */
  vpc?: boolean;
}

/** Where a host the config names leads, seen from a Lambda function. */
type HostKind = 'loopback' | 'private' | 'placeholder' | 'public';

/** RFC 2606 / RFC 6761 names that never resolve to a real server. */
const PLACEHOLDER_SUFFIXES = ['.example', '.invalid', '.test', '.localhost'];
const PLACEHOLDER_DOMAINS = ['example.com', 'example.net', 'example.org'];

function ipv4Octets(host: string): number[] | undefined {
  if (isIP(host) !== 4) return undefined;
  return host.split('.').map(Number);
}

/** Classifies a host name or address literal. */
export function hostKind(hostname: string): HostKind {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return 'loopback';
  const v4 = ipv4Octets(host) ?? ipv4Octets(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1] ?? '');
  if (v4) {
    const [a = 0, b = 0] = v4;
    if (a === 127 || a === 0) return 'loopback';
    // RFC 1918, link-local, shared address space (RFC 6598).
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
    if ((a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127)) return 'private';
    return 'public';
  }
  if (isIP(host) === 6) {
    if (host === '::1' || host === '::') return 'loopback';
    // Unique local (fc00::/7) and link-local (fe80::/10).
    if (/^f[cd][0-9a-f]{0,2}:/.test(host) || /^fe[89ab][0-9a-f]?:/.test(host)) return 'private';
    return 'public';
  }
  if (PLACEHOLDER_SUFFIXES.some((suffix) => host.endsWith(suffix) || host === suffix.slice(1))) {
    return 'placeholder';
  }
  if (PLACEHOLDER_DOMAINS.some((domain) => host === domain || host.endsWith(`.${domain}`))) {
    return 'placeholder';
  }
  return 'public';
}

/** The problem with reaching `host` from the deployed functions, if any. */
function hostProblem(host: string, target: DeployTarget): string | undefined {
  switch (hostKind(host)) {
    case 'loopback':
      return `${host} is a loopback address: a deployed function reaches only itself there; name the server's real host`;
    case 'private':
      return target.vpc
        ? undefined
        : `${host} is a private address, which a function outside a VPC cannot reach: deploy into the server's VPC ` +
            '(-c vpcId=… -c vpcSubnetIds=…, or the vpc prop of MailboxProcessor; see "Network reach" in the README)';
    case 'placeholder':
      return (
        `${host} is a placeholder (a reserved example domain), not a server: write the real IMAP host, ` +
        'and point -c config=PATH at the config you mean to deploy (npx cdk deploy reads ./postroom.yaml unless told otherwise)'
      );
    default:
      return undefined;
  }
}

/** Every `{ webhook: { url } }` in the rules, with its path. */
function webhookUrls(value: unknown, path: string, found: { path: string; url: string }[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      webhookUrls(item, `${path}[${index}]`, found);
    });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    const url = (inner as { url?: unknown } | null)?.url;
    if (key === 'webhook' && typeof url === 'string') found.push({ path: `${at}.url`, url });
    else webhookUrls(inner, at, found);
  }
}

/** `path: message` lines for settings that cannot work in Lambda. */
export function reachProblems(config: PostroomConfig, target: DeployTarget = {}): string[] {
  const problems: string[] = [];
  const idle =
    'IDLE needs a connection held open between mails, which a Lambda invocation cannot hold: deployed mailboxes ' +
    'are polled on the account schedule; remove it (postroom run uses IDLE on one machine)';
  config.accounts.forEach((account, index) => {
    const problem = hostProblem(account.host, target);
    if (problem) problems.push(`accounts[${index}].host: ${problem}`);
    if (account.idle) problems.push(`accounts[${index}].idle: ${idle}`);
    account.mailboxes.forEach((mailbox, m) => {
      if (typeof mailbox === 'object' && mailbox.idle) {
        problems.push(`accounts[${index}].mailboxes[${m}].idle: ${idle}`);
      }
    });
  });
  const hooks: { path: string; url: string }[] = [];
  webhookUrls(config.rules, 'rules', hooks);
  for (const hook of hooks) {
    const url = new URL(hook.url);
    if (url.protocol !== 'https:') {
      problems.push(
        `${hook.path}: a deployed webhook must be https:// (http:// is for a receiver on the same machine, ` +
          'which a Lambda function is not)',
      );
    } else {
      const problem = hostProblem(url.hostname, target);
      if (problem) problems.push(`${hook.path}: ${problem}`);
    }
  }
  return problems;
}

/**
 * The TCP ports the functions connect out to: each account's IMAP port and
 * every webhook's (443 for AWS APIs and https), for a security group that
 * allows nothing else.
 */
export function egressPorts(config: PostroomConfig): number[] {
  const ports = new Set<number>([443]);
  for (const account of config.accounts) ports.add(account.port);
  const hooks: { path: string; url: string }[] = [];
  webhookUrls(config.rules, 'rules', hooks);
  for (const hook of hooks) {
    const url = new URL(hook.url);
    ports.add(url.port === '' ? 443 : Number(url.port));
  }
  return [...ports].sort((a, b) => a - b);
}
