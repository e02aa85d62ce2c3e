/**
 * The JSON Schema of the whole config, for editors: point a YAML language
 * server at it (`# yaml-language-server: $schema=./postroom.schema.json`) or
 * set `$schema` in a JSON config, and keys complete and check as you type.
 * Generated from the one zod schema, so it cannot drift from what
 * `postroom validate` accepts (a unit test compares it with the committed file).
 */
import * as z from 'zod';
import { configSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  // `input`: what users write (defaults optional), not the parsed result.
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Postroom config',
    description: 'Accounts to poll, where to store mail, and the rules that act on it.',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
