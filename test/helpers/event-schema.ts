/**
 * Validates events against the committed `postroom.event.schema.json` with
 * ajv: the file users get, not the zod schema it is generated from. The
 * process harness runs every event it reads through it.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';

const schema = JSON.parse(readFileSync(new URL('../../postroom.event.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

/** Throws, naming the event and every problem, when an event does not match the schema. */
export function assertValidEvent(event: unknown): void {
  if (validate(event)) return;
  const problems = (validate.errors ?? [])
    .map((e: { instancePath: string; message?: string }) => `${e.instancePath || '/'} ${e.message}`)
    .join('; ');
  const id = (event as { detail?: { id?: string } }).detail?.id ?? '?';
  throw new Error(`event ${id} does not match postroom.event.schema.json: ${problems}`);
}
