/**
 * Config and resources for the Lambda handlers. The config is the JSON file
 * the CDK app wrote beside the handler after validating it at synth
 * (`validated-file.ts`), taken as it is: the bundles carry neither a YAML
 * parser nor the config schema, and a cold start builds no zod schema for it.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import type { PostroomConfig } from './schema.ts';
import { deepFreeze, isValidatedConfigFile, VALIDATED_CONFIG_MARK } from './validated-file.ts';

/**
 * The Lambda's config: JSON in `POSTROOM_CONFIG`, or the file named by
 * `POSTROOM_CONFIG_FILE` (bundled beside the handler; relative paths are
 * resolved against `LAMBDA_TASK_ROOT`). Env vars are limited to 4 KB, so the
 * CDK construct bundles the file. Either way it must be a config validated and
 * marked by `validatedConfigFile`; anything else is refused.
 */
export async function loadConfigFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<PostroomConfig> {
  const { value, origin } = await readConfigFromEnvironment(env);
  return deepFreeze(validatedConfig(value, origin));
}

/** {@link loadConfigFromEnvironment} for the poll function, which has no use for `rules`: they come back empty. */
export async function loadConfigWithoutRulesFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<PostroomConfig> {
  const { value, origin } = await readConfigFromEnvironment(env);
  return deepFreeze({ ...validatedConfig(value, origin), rules: [] });
}

function validatedConfig(value: unknown, origin: string): PostroomConfig {
  if (isValidatedConfigFile(value)) return value.config;
  throw new ConfigError(`${origin} is not a config written by the Postroom CDK app`, [
    `${origin}: expected the validated config that cdk synth bundles beside the handler ` +
      `({ "$postroom": "${VALIDATED_CONFIG_MARK}", "config": ... }); deploy with the MailboxProcessor construct`,
  ]);
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
