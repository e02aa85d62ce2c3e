/** Writes postroom.schema.json at the repo root: `npm run schema`. */
import { writeFileSync } from 'node:fs';
import { configJsonSchemaText } from '#lib/config/json-schema.ts';
import { eventJsonSchemaText } from '#lib/core/event-schema.ts';

writeFileSync(new URL('../postroom.schema.json', import.meta.url), configJsonSchemaText());
console.log('wrote postroom.schema.json');
writeFileSync(new URL('../postroom.event.schema.json', import.meta.url), eventJsonSchemaText());
console.log('wrote postroom.event.schema.json');
