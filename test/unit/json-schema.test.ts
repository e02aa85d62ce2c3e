import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaText } from '#lib/config/json-schema.ts';

describe('postroom.schema.json', () => {
  it('matches the zod schema (regenerate with `npm run schema`)', () => {
    expect(readFileSync('postroom.schema.json', 'utf8')).toBe(configJsonSchemaText());
  });

  it('describes accounts, store and rules, and rejects unknown top-level keys', () => {
    const schema = JSON.parse(configJsonSchemaText());
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['accounts', 'store', 'rules', 'ingest']),
    );
    expect(schema.additionalProperties).toBe(false);
  });
});
