/**
 * Config and resources for the Lambda handlers. JSON only (the CDK app writes
 * the validated config as JSON beside the handler), so the bundles carry no
 * YAML parser.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import type { PostroomConfig } from './schema.ts';
import { validateConfig, validateConfigWithoutRules } from './validate.ts';

/**
 * The Lambda's config: JSON in `POSTROOM_CONFIG`, or the file named by
 * `POSTROOM_CONFIG_FILE` (bundled beside the handler; relative paths are
 * resolved against `LAMBDA_TASK_ROOT`). Env vars are limited to 4 KB, so the
 * CDK construct bundles the file.
 */
export async function loadConfigFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<PostroomConfig> {
  const { value, origin } = await readConfigFromEnvironment(env);
  return validateConfig(value, origin);
}

/** {@link loadConfigFromEnvironment} for the poll function: `rules` unread and empty (`validateConfigWithoutRules`). */
export async function loadConfigWithoutRulesFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<PostroomConfig> {
  const { value, origin } = await readConfigFromEnvironment(env);
  return validateConfigWithoutRules(value, origin);
}

async function readConfigFromEnvironment(
  env: NodeJS.ProcessEnv,
): Promise<{ value: unknown; origin: string }> {
  if (env.POSTROOM_CONFIG)
    return { value: parseJson(env.POSTROOM_CONFIG, 'POSTROOM_CONFIG'), origin: 'POSTROOM_CONFIG' };
  const name = env.POSTROOM_CONFIG_FILE ?? 'postroom.config.json';
  const file = name.startsWith('/') ? name : `${env.LAMBDA_TASK_ROOT ?? process.cwd()}/${name}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read config ${file}`,
      [`${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`],
      {
        cause: error,
      },
    );
  }
  return { value: parseJson(text, file), origin: file };
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

function parseJson(text: string, origin: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${origin} is not valid JSON`, [`${origin}: ${(error as Error).message}`]);
  }
}
