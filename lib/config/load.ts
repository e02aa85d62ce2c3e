/**
 * Loading the config: YAML or JSON from a file (or a string, for
 * `POSTROOM_CONFIG` in Lambda), validated once into a frozen, typed object.
 * Every problem is reported as `path: message`, e.g. `accounts[0].port: expected a number`.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type * as z from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type PostroomConfig } from './schema.ts';

/** Renders a zod issue path the way a user would write it: `accounts[0].auth.user`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(root)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  const path = [...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown key' }));
    case 'invalid_type': {
      // `input` is there because parseConfig asks for `reportInput`; it is never printed
      // (it could be a password written in the wrong place).
      if ((issue as { input?: unknown }).input === undefined)
        return [{ path, message: `required (expected ${article(issue.expected)})` }];
      return [{ path, message: `expected ${article(issue.expected)}` }];
    }
    case 'invalid_value':
      if (issue.message.startsWith('Invalid')) {
        return [{ path, message: `expected one of ${issue.values.map((v) => String(v)).join(', ')}` }];
      }
      return [{ path, message: issue.message }];
    default:
      return [{ path, message: issue.message.replace(/^Invalid input: /, '') }];
  }
}

function article(type: string): string {
  if (type === 'array') return 'a list';
  if (type === 'object') return 'a mapping';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** Turns zod issues into sorted, de-duplicated `path: message` lines. */
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>): string[] {
  const lines = issues.flatMap(describeIssue).map(({ path, message }) => `${formatPath(path)}: ${message}`);
  return [...new Set(lines)];
}

/** Parses YAML or JSON text (JSON is YAML) into a validated config. */
export function parseConfig(text: string, origin = 'config'): PostroomConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      `${origin} is not valid YAML/JSON`,
      document.errors.map((error) => `${origin}: ${error.message.split('\n')[0]}`),
    );
  }
  const result = configSchema.safeParse(document.toJS() ?? {}, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(`${origin} has problems`, formatIssues(result.error.issues));
  }
  return deepFreeze(result.data);
}

/** Reads and validates a config file. */
export async function loadConfig(file: string): Promise<PostroomConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(`cannot read config ${file}: ${reason}`, [`${file}: ${reason}`], { cause: error });
  }
  return parseConfig(text, file);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The Lambda's config: JSON in `POSTROOM_CONFIG`, or the file named by
 * `POSTROOM_CONFIG_FILE` (bundled beside the handler; relative paths are
 * resolved against `LAMBDA_TASK_ROOT`). Env vars are limited to 4 KB, so the
 * CDK construct bundles the file.
 */
export async function loadConfigFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<PostroomConfig> {
  if (env.POSTROOM_CONFIG) return parseConfig(env.POSTROOM_CONFIG, 'POSTROOM_CONFIG');
  const file = env.POSTROOM_CONFIG_FILE ?? 'postroom.config.json';
  const root = env.LAMBDA_TASK_ROOT ?? process.cwd();
  return loadConfig(file.startsWith('/') ? file : `${root}/${file}`);
}

/** The AWS resources a Lambda works with, from the environment the CDK construct sets. */
export function awsStoreFromEnvironment(env: NodeJS.ProcessEnv = process.env) {
  const missing = ['POSTROOM_BUCKET', 'POSTROOM_QUEUE_URL', 'POSTROOM_TABLE'].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      `missing environment: ${missing.join(', ')}`,
      missing.map((name) => `${name}: required`),
    );
  }
  return {
    kind: 'aws' as const,
    bucket: env.POSTROOM_BUCKET!,
    queueUrl: env.POSTROOM_QUEUE_URL!,
    table: env.POSTROOM_TABLE!,
    ...(env.POSTROOM_EVENT_BUS ? { eventBus: env.POSTROOM_EVENT_BUS } : {}),
  };
}
