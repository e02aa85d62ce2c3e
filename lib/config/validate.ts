/**
 * Validating a parsed config into a frozen, typed object, and rendering zod's
 * issues as `path: message` lines (`accounts[0].port: expected a number`).
 * No YAML here (`load.ts` reads files). The Lambda handlers never validate: they
 * take the copy `cdk synth` validated (`validated-file.ts`).
 */
import type * as z from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type PostroomConfig } from './schema.ts';
import { deepFreeze } from './validated-file.ts';

/**
 * Renders a zod issue path the way a user would write it: `accounts[0].auth.user`.
 * Given the config it was found in, a rule is also named, since rules are
 * known by name: `rules[3] (build-failures).when.subject.regex`.
 */
export function formatPath(path: ReadonlyArray<PropertyKey>, input?: unknown): string {
  let out = '';
  let node: unknown = input;
  let parentKey: PropertyKey | undefined;
  for (const segment of path) {
    node =
      typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[segment] : undefined;
    if (typeof segment === 'number') {
      out += `[${segment}]`;
      const name = (node as { name?: unknown } | undefined)?.name;
      if (parentKey === 'rules' && out.startsWith('rules[') && typeof name === 'string' && name !== '')
        out += ` (${name})`;
    } else out += out === '' ? String(segment) : `.${String(segment)}`;
    parentKey = segment;
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
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>, input?: unknown): string[] {
  const lines = issues
    .flatMap(describeIssue)
    .map(({ path, message }) => `${formatPath(path, input)}: ${message}`);
  return [...new Set(lines)];
}

/** Validates an already parsed config (from YAML or JSON). */
export function validateConfig(value: unknown, origin = 'config'): PostroomConfig {
  return validateAgainst(configSchema, value, origin);
}

function validateAgainst(schema: z.ZodType<PostroomConfig>, value: unknown, origin: string): PostroomConfig {
  // `jitless`: a config is parsed once per process, and compiling zod's fast
  // path for each object schema (`new Function`) costs more than it saves.
  const result = schema.safeParse(value ?? {}, { reportInput: true, jitless: true });
  if (!result.success) {
    throw new ConfigError(`${origin} has problems`, formatIssues(result.error.issues, value));
  }
  return deepFreeze(result.data);
}
