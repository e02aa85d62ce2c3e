/**
 * Schedule expressions, as AWS writes them, for the local runner:
 * `rate(5 minutes)` and `cron(0/10 * * * ? *)` (minutes, hours, day of month,
 * month, day of week, year). Locally, `rate(10 seconds)` is allowed too; AWS
 * schedules start at one minute, and the CDK app says so at synth.
 */
import { CronExpressionParser } from 'cron-parser';

const UNIT_MS: Record<string, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** Milliseconds from `from` to the next run. */
export function msUntilNext(expression: string, from: Date = new Date()): number {
  const rate = /^rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)$/.exec(expression);
  if (rate) return Number(rate[1]) * UNIT_MS[rate[2]!]!;
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (cron) {
    const fields = cron[1]!.trim().split(/\s+/);
    if (fields.length !== 6)
      throw new Error(`cron() takes 6 fields (minutes hours day month weekday year): ${expression}`);
    // cron-parser takes the classic five fields: drop the year, and AWS's "?" means "any".
    const classic = fields
      .slice(0, 5)
      .map((f) => (f === '?' ? '*' : f))
      .join(' ');
    const next = CronExpressionParser.parse(classic, { currentDate: from, tz: 'UTC' }).next().toDate();
    return Math.max(0, next.getTime() - from.getTime());
  }
  throw new Error(`not a schedule expression: ${expression}`);
}

/**
 * Why `run` could not follow a schedule expression, or undefined when it can:
 * a rate of 0 (faster than once a second), or cron fields the same parser `run`
 * uses refuses (`cron(99 * * * ? *)`). `postroom validate` asks this.
 */
export function scheduleProblem(expression: string): string | undefined {
  const rate = /^rate\(\s*(\d+)\s+\w+\s*\)$/.exec(expression);
  if (rate && Number(rate[1]) < 1) {
    return `${expression} would run without pause: a schedule runs at most once a second (rate(1 second) or more)`;
  }
  try {
    msUntilNext(expression, new Date(0));
    return undefined;
  } catch (error) {
    return `invalid cron fields in ${expression}: ${(error as Error).message}`;
  }
}

/** True for rates under a minute, which only the local runner accepts. */
export function isSubMinute(expression: string): boolean {
  return /^rate\(\s*\d+\s+seconds?\s*\)$/.test(expression);
}
