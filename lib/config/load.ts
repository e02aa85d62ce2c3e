/**
 * Loading the config: YAML or JSON from a file or a string, validated once
 * into a frozen, typed object. Every problem is reported as `path: message`,
 * e.g. `accounts[0].port: expected a number`.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument, type YAMLError } from 'yaml';
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
    throw new ConfigError(`${origin} is not valid YAML/JSON`, yamlProblem(text, origin, document.errors));
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

/**
 * The first YAML error only, with its line and a code frame: one indentation
 * mistake makes the parser report a cascade of later errors that the same fix
 * removes, and lines ending in dangling colons help nobody. The frame shows a
 * line either side, since the mistake (a line indented one space too far) is
 * often the line after the one the parser names.
 */
function yamlProblem(text: string, origin: string, errors: readonly YAMLError[]): string[] {
  const first = errors[0]!;
  const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const start = first.linePos?.[0];
  if (!start) return [`${origin}: ${message}`];
  const lines = text.split(/\r?\n/);
  const end = Math.min(lines.length, Math.max(start.line, first.linePos?.[1]?.line ?? start.line) + 1);
  const from = Math.max(1, start.line - 1);
  const width = String(end).length;
  const frame: string[] = [];
  for (let n = from; n <= end; n++) {
    // Tabs become one space so the caret stays under its column; long lines are cut.
    const source = (lines[n - 1] ?? '').replace(/\t/g, ' ').slice(0, 160);
    frame.push(`${n === start.line ? '>' : ' '} ${String(n).padStart(width)} | ${source}`.trimEnd());
    if (n === start.line) frame.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, start.col - 1))}^`);
  }
  const more =
    errors.length > 1
      ? [`(${errors.length - 1} more YAML error(s) after this one, usually from the same mistake)`]
      : [];
  return [`${origin}: line ${start.line}, column ${start.col}: ${message}`, ...frame, ...more];
}
