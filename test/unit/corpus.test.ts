/**
 * Every message of the public corpus (real-world and parser-test mail, broken
 * ones included) goes through parsing and the example rules without throwing.
 * The corpus lives outside the repository: `POSTROOM_CORPUS_DIR`, by default
 * `../shared/corpus/public` from the repository root; MANIFEST.tsv lists its files.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config/load.ts';
import { parseMessage, toRuleInput } from '#lib/rules/message.ts';
import { evaluate, needsBody } from '#lib/rules/planner.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const corpusDir = resolve(root, process.env.POSTROOM_CORPUS_DIR ?? '../shared/corpus/public');
const manifest = join(corpusDir, 'MANIFEST.tsv');
const present = existsSync(manifest);

/** File names and byte sizes from MANIFEST.tsv (header row: file, ..., size_bytes, ...). */
function readManifest(): Array<{ file: string; size: number }> {
  const [header, ...rows] = readFileSync(manifest, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const columns = header!.split('\t');
  const fileColumn = columns.indexOf('file');
  const sizeColumn = columns.indexOf('size_bytes');
  return rows.map((row) => {
    const cells = row.split('\t');
    return { file: cells[fileColumn]!, size: Number(cells[sizeColumn]) };
  });
}

describe.skipIf(!present)(
  `public corpus (skipped: no MANIFEST.tsv in ${corpusDir}; set POSTROOM_CORPUS_DIR)`,
  () => {
    const entries = present ? readManifest() : [];
    const examplePath = join(root, 'examples/postroom.example.yaml');
    const rules = parseConfig(readFileSync(examplePath, 'utf8'), examplePath).rules;
    const now = new Date('2026-06-01T00:00:00Z');

    it('lists .eml files that are all there', () => {
      expect(entries.length).toBeGreaterThan(0);
      for (const { file } of entries) expect(existsSync(join(corpusDir, file)), file).toBe(true);
    });

    it('parses every message and evaluates the example rules on it without throwing', async () => {
      // Prepare
      expect(needsBody(rules)).toBe(true);
      const failures: string[] = [];

      for (const { file, size } of entries.filter((e) => e.file.endsWith('.eml'))) {
        // Act
        const parsed = await parseMessage(createReadStream(join(corpusDir, file)));
        const input = toRuleInput({ flags: [], size, internalDate: '2026-01-15T00:00:00Z' }, parsed);
        for (const scope of [
          { account: 'home', mailbox: 'INBOX' },
          { account: 'work', mailbox: 'Support' },
        ]) {
          const result = evaluate(input, rules, scope, { now });

          // Assess: a plan of known kinds, and a message the parser gave up on says so.
          for (const action of result.actions) {
            expect([
              'flag',
              'unflag',
              'copy',
              'move',
              'delete',
              'emit',
              'webhook',
              'saveAttachments',
            ]).toContain(action.kind);
          }
          expect(
            result.actions.filter((a) => a.kind === 'move' || a.kind === 'delete').length,
          ).toBeLessThanOrEqual(1);
          if (!parsed.ok && result.warnings.length === 0)
            failures.push(`${file}: not parsed, yet no warning`);
        }
        if (parsed.ok && parsed.size !== size)
          failures.push(`${file}: read ${parsed.size} bytes, manifest says ${size}`);
      }
      expect(failures).toEqual([]);
    }, 120_000);
  },
);
