/**
 * What a deployment asks of the config beyond the schema: every secret by
 * Secrets Manager reference, deployment settings with their defaults, and
 * schedules AWS accepts. Pure functions (no CDK), so `postroom validate` could
 * call them too.
 */
import { formatPath } from '#lib/config/load.ts';
import { type AwsDeployConfig, awsDeploySchema, type PostroomConfig } from '#lib/config/schema.ts';
import { ConfigError } from '#lib/errors.ts';
import { caProblems } from './bundled-ca.ts';
import { type DeployTarget, reachProblems } from './deploy-reach.ts';

export type { DeployTarget } from './deploy-reach.ts';

/** A secret reference found in the config, with where it was found. */
export interface SecretRefUse {
  /** The config path, e.g. `accounts[0].auth.password`. */
  path: string;
  /** The account id when the reference is needed to connect to the account's server (its password, an `oauth2` secret, its CA). */
  account?: string;
  /** True for a refresh token the token endpoint may rotate: Postroom writes the new one back (`PutSecretValue`). */
  rotated?: true;
  ref: { env: string } | { secret: string };
}

/**
 * Finds every secret reference in the config, wherever it is: account
 * passwords, webhook secrets in rules, and whatever later features add. The
 * walk is generic on purpose (the rule schema grows on its own): any mapping
 * whose only key is `env` or `secret` with a string value is a reference, the
 * shape `secretRefSchema` accepts.
 */
export function findSecretRefs(config: PostroomConfig): SecretRefUse[] {
  const found: SecretRefUse[] = [];
  const visit = (value: unknown, path: PropertyKey[]): void => {
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        visit(item, [...path, index]);
      });
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const entries = Object.entries(value);
    if (entries.length === 1) {
      const [key, inner] = entries[0]!;
      if ((key === 'env' || key === 'secret') && typeof inner === 'string') {
        const ref = key === 'env' ? { env: inner } : { secret: inner };
        const owner =
          path[0] === 'accounts' &&
          ((path[2] === 'auth' && (path[3] === 'password' || path[3] === 'oauth2')) ||
            (path[2] === 'tlsOptions' && path[3] === 'ca'))
            ? config.accounts[path[1] as number]
            : undefined;
        const rotated =
          path[3] === 'oauth2' &&
          path[4] === 'refreshToken' &&
          (owner?.auth.oauth2?.grant ?? 'refresh_token') === 'refresh_token';
        found.push({
          path: formatPath(path),
          ref,
          ...(owner === undefined ? {} : { account: owner.id }),
          ...(rotated ? { rotated: true as const } : {}),
        });
        return;
      }
    }
    for (const [key, inner] of entries) visit(inner, [...path, key]);
  };
  visit(config, []);
  return found;
}

/** The `aws:` section with every default applied (the section itself is optional). */
export function deploySettings(config: PostroomConfig): AwsDeployConfig {
  return awsDeploySchema.parse(config.aws ?? {});
}

const RATE = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/;
const UNIT_SECONDS: Record<string, number> = { minute: 60, hour: 3600, day: 86_400 };

/**
 * The schedule as AWS accepts it. EventBridge insists on `rate(1 minute)` but
 * `rate(5 minutes)` (singular for one, plural otherwise) and rejects the other
 * spelling at deploy time; the config accepts both, so fix it here.
 */
export function normalizeSchedule(expression: string): string {
  const rate = RATE.exec(expression.trim());
  if (!rate) return expression.trim();
  const value = Number(rate[1]);
  const unit = rate[2]!.replace(/s$/, '');
  return `rate(${value} ${unit}${value === 1 ? '' : 's'})`;
}

/** Problems with a schedule expression that the schema's pattern lets through. */
function scheduleProblem(expression: string): string | undefined {
  const rate = RATE.exec(expression.trim());
  if (rate) return Number(rate[1]) < 1 ? 'a rate must be at least 1' : undefined;
  // The schema allows seconds for `postroom run` on one machine; EventBridge runs at most once a minute.
  if (/^rate\(\s*\d+\s+seconds?\s*\)$/.test(expression.trim())) {
    return 'a deployed schedule runs at most once a minute: use rate(1 minute) or longer';
  }
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  const fields = cron?.[1]?.trim().split(/\s+/) ?? [];
  if (fields.length !== 6) {
    return 'expected cron(minutes hours day-of-month month day-of-week year): six fields, as EventBridge has';
  }
  // EventBridge: one of day-of-month and day-of-week must be `?`.
  if (fields[2] !== '?' && fields[4] !== '?') {
    return 'one of day-of-month and day-of-week must be ? in an EventBridge cron expression';
  }
  return undefined;
}

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * Every reason this config cannot be deployed, as `path: message` lines (the
 * same form `postroom validate` prints). Empty when it can.
 */
export function deploymentProblems(config: PostroomConfig, target: DeployTarget = {}): string[] {
  const problems: string[] = [...reachProblems(config, target), ...caProblems(config)];
  for (const use of findSecretRefs(config)) {
    if ('env' in use.ref) {
      problems.push(
        `${use.path}: { env: ${use.ref.env} } cannot be deployed to AWS: store the value in ` +
          'AWS Secrets Manager and write { secret: NAME-OR-ARN }',
      );
    }
  }
  config.accounts.forEach((account, index) => {
    const problem = scheduleProblem(account.schedule);
    if (problem) problems.push(`accounts[${index}].schedule: ${problem}`);
    const oauth2 = account.auth.oauth2;
    // Locally `postroom oauth login` may keep the refresh token in the state store instead.
    if (
      oauth2 &&
      (oauth2.grant ?? 'refresh_token') === 'refresh_token' &&
      oauth2.refreshToken === undefined
    ) {
      problems.push(
        `accounts[${index}].auth.oauth2.refreshToken: required when deployed: { secret: NAME } ` +
          `(postroom oauth login --account ${account.id} writes the token there)`,
      );
    }
  });
  const settings = deploySettings(config);
  if (!LOG_RETENTION_DAYS.includes(settings.logRetentionDays)) {
    problems.push(
      `aws.logRetentionDays: expected one of ${LOG_RETENTION_DAYS.join(', ')} (what CloudWatch Logs offers)`,
    );
  }
  // Lambda's SQS event source takes more than 10 messages per batch only with a batching window.
  if (settings.processor.batchSize > 10 && settings.processor.batchingWindowSeconds < 1) {
    problems.push(
      'aws.processor.batchSize: more than 10 messages per batch needs aws.processor.batchingWindowSeconds ' +
        'of at least 1 (a rule of Lambda SQS event sources)',
    );
  }
  return problems;
}

/** Throws a `ConfigError` listing every `deploymentProblems` line. */
export function assertDeployable(config: PostroomConfig, origin = 'config', target: DeployTarget = {}): void {
  const problems = deploymentProblems(config, target);
  if (problems.length > 0) {
    throw new ConfigError(`${origin} cannot be deployed to AWS`, problems);
  }
}

/** How the dead-man alarm should treat an account's schedule. */
export interface ScheduleInterval {
  /** The longest expected gap between two runs, in seconds (a multiple of 60). */
  seconds: number;
  /** False when the expression was too unusual to analyse and a day was assumed. */
  exact: boolean;
}

const DAY = 86_400;
const WEEK_MINUTES = 7 * 24 * 60;
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/**
 * Expands one cron field into the values it matches, or undefined for syntax
 * this small reader does not handle (`L`, `W`, `#`).
 */
function expandField(field: string, min: number, max: number, names: string[] = []): Set<number> | undefined {
  const values = new Set<number>();
  const toNumber = (token: string): number | undefined => {
    const byName = names.indexOf(token.toUpperCase());
    // EventBridge numbers days of the week 1 (Sunday) to 7.
    if (byName >= 0) return byName + min;
    return /^\d+$/.test(token) ? Number(token) : undefined;
  };
  for (const part of field.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) return undefined;
    let from: number | undefined;
    let to: number | undefined;
    if (range === '*' || range === '?') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = toNumber(a);
      to = toNumber(b);
    } else {
      from = toNumber(range);
      to = stepText === undefined ? from : max;
    }
    if (from === undefined || to === undefined || from < min || to > max || from > to) return undefined;
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return values;
}

/**
 * The longest gap between two runs of a schedule, for the "not polled for 3
 * intervals" alarm. Rates are exact. Cron expressions are read for their
 * minute, hour and day-of-week fields over one week (so business-hours
 * schedules get their overnight gap); expressions restricted by day of month,
 * month or year, or using `L`/`W`/`#`, are assumed to run daily.
 */
export function scheduleInterval(expression: string): ScheduleInterval {
  const normalized = normalizeSchedule(expression);
  const rate = RATE.exec(normalized);
  if (rate) return { seconds: Number(rate[1]) * UNIT_SECONDS[rate[2]!.replace(/s$/, '')]!, exact: true };
  const fields = /^cron\((.*)\)$/.exec(normalized)?.[1]?.trim().split(/\s+/) ?? [];
  const [minuteField = '', hourField = '', domField = '', monthField = '', dowField = '', yearField = ''] =
    fields;
  const unrestricted = (field: string) => field === '*' || field === '?';
  const minutes = expandField(minuteField, 0, 59);
  const hours = expandField(hourField, 0, 23);
  const days = expandField(dowField, 1, 7, DAY_NAMES);
  if (
    !minutes ||
    !hours ||
    !days ||
    !unrestricted(domField) ||
    !unrestricted(monthField) ||
    !unrestricted(yearField)
  ) {
    return { seconds: DAY, exact: false };
  }
  const runs: number[] = [];
  for (let minuteOfWeek = 0; minuteOfWeek < WEEK_MINUTES; minuteOfWeek++) {
    const day = Math.floor(minuteOfWeek / 1440) + 1;
    const hour = Math.floor((minuteOfWeek % 1440) / 60);
    if (days.has(day) && hours.has(hour) && minutes.has(minuteOfWeek % 60)) runs.push(minuteOfWeek);
  }
  if (runs.length === 0) return { seconds: DAY, exact: false };
  let longest = runs[0]! + WEEK_MINUTES - runs[runs.length - 1]!;
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest, runs[i]! - runs[i - 1]!);
  return { seconds: longest * 60, exact: true };
}

/** Accounts polled by one invocation on one schedule. */
export interface PollGroup {
  /** The schedule's id: the account id for a group of one, else `poll-group-<n>` (from 1, in config order). */
  id: string;
  /** The normalised schedule expression every account of the group shares. */
  schedule: string;
  accounts: string[];
}

/**
 * Groups accounts for the poll schedules: accounts with the same schedule,
 * in config order, in groups of `aws.poller.accountsPerInvocation`. Unset: one
 * account per invocation while there are at most `concurrency` accounts in
 * all (each keeps its own schedule, metrics and alarms), beyond that groups of
 * at most 8 × `concurrency`, as even as possible. Each session slot then
 * serves about eight accounts one after another: seconds for empty polls,
 * leaving most of the time budget for mail (an account not started by the
 * deadline is polled by the next run), while a group's metric and two alarms,
 * billed per group, are shared by over a hundred accounts.
 */
export function pollGroups(config: PostroomConfig): PollGroup[] {
  const { accountsPerInvocation, concurrency } = deploySettings(config).poller;
  const perInvocation =
    accountsPerInvocation ?? (config.accounts.length <= concurrency ? 1 : 8 * concurrency);
  const bySchedule = new Map<string, string[]>();
  for (const account of config.accounts) {
    const schedule = normalizeSchedule(account.schedule);
    bySchedule.set(schedule, [...(bySchedule.get(schedule) ?? []), account.id]);
  }
  const groups: PollGroup[] = [];
  let numbered = 0;
  for (const [schedule, ids] of bySchedule) {
    const count = Math.ceil(ids.length / perInvocation);
    // Sizes differ by one at most: the first `ids.length % count` groups take one more.
    for (let g = 0, start = 0; g < count; g++) {
      const size = Math.floor(ids.length / count) + (g < ids.length % count ? 1 : 0);
      const accounts = ids.slice(start, start + size);
      start += size;
      const id = accounts.length === 1 ? accounts[0]! : `poll-group-${++numbered}`;
      groups.push({ id, schedule, accounts });
    }
  }
  return groups;
}
