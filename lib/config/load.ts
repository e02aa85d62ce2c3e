/**
 * Loading the config: YAML or JSON from a file or a string, validated once
 * into a frozen, typed object. Every problem is reported as `path: message`,
 * e.g. `accounts[0].port: expected a number`.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import type { PostroomConfig } from './schema.ts';
import { validateConfig } from './validate.ts';

export { formatIssues, formatPath, validateConfig } from './validate.ts';

/** The most alias expansions a config may use (yaml's `maxAliasCount`). */
const MAX_ALIAS_COUNT = 100;

/** Parses YAML or JSON text (JSON is YAML) into a validated config. */
export function parseConfig(text: string, origin = 'config'): PostroomConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      `${origin} is not valid YAML/JSON`,
      document.errors.map((error) => `${origin}: ${error.message.split('\n')[0]}`),
    );
  }
  let value: unknown;
  try {
    // An alias expanded more often than this is a resource-exhaustion attempt
    // ("billion laughs"): the yaml package refuses it with a ReferenceError.
    value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new ConfigError(
      `${origin} is not a usable config`,
      [
        `${origin}: ${(error as Error).message.split('\n')[0]} (more than ${MAX_ALIAS_COUNT} alias expansions)`,
      ],
      { cause: error },
    );
  }
  return validateConfig(value, origin);
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
