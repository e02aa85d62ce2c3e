/**
 * The config file the CDK app bundles beside each Lambda handler.
 *
 * `cdk synth` validates the config with the full schema (the same
 * `path: message` lines as `postroom validate`) and writes the result, defaults
 * applied, wrapped with a mark. The file ships inside the same code asset as
 * the handler that reads it, built from the same sources, so the handler takes
 * it as it is instead of validating it again at every cold start: the bundles
 * then carry no config schema and a cold start builds none (`npm run
 * bench:lambda` prints the import time). Validation is a fixed point on its
 * output (tested), so nothing changes by skipping it.
 *
 * Plain data and no zod here: the handlers import this at cold start.
 */
import type { PostroomConfig } from './schema.ts';

/** Identifies a config validated at synth; bump the suffix if the file's shape ever changes. */
export const VALIDATED_CONFIG_MARK = 'postroom/validated-config@1';

/** What the CDK app writes to `postroom.config.json`. */
export interface ValidatedConfigFile {
  $postroom: typeof VALIDATED_CONFIG_MARK;
  config: PostroomConfig;
}

/** Wraps a config that has just been through `validateConfig`. */
export function validatedConfigFile(validated: PostroomConfig): ValidatedConfigFile {
  return { $postroom: VALIDATED_CONFIG_MARK, config: validated };
}

/** True for a file written by {@link validatedConfigFile}. */
export function isValidatedConfigFile(value: unknown): value is ValidatedConfigFile {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $postroom?: unknown }).$postroom === VALIDATED_CONFIG_MARK &&
    typeof (value as { config?: unknown }).config === 'object' &&
    (value as { config?: unknown }).config !== null
  );
}

/** Freezes a config and everything in it, as validation does. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
