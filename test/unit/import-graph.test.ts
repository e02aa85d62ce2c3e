/**
 * The shape of the import graph, read from the sources as text: no module of
 * `lib/` reaches itself through its imports, and the pipeline (everything a
 * Lambda or `postroom poll`/`process` runs) never imports the sandbox (the
 * demo and the private-Dovecot tooling). `import type` lines are left out:
 * they are erased before anything runs (`rules/vocabulary.ts` checks its
 * words against the schema's types that way).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** The repo files a module imports at run time (static, dynamic and re-exports), by relative path or `#lib/`. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?\bfrom\s*['"]([^'"]+)['"]/gms),
    ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((match) => match[1]!);
  return specifiers.flatMap((specifier) => {
    if (specifier.startsWith('#lib/')) return [join('lib', specifier.slice('#lib/'.length))];
    if (specifier.startsWith('.')) return [relative(ROOT, resolve(ROOT, dirname(file), specifier))];
    return [];
  });
}

function graphOf(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  return new Map(files.map((file) => [file, importsOf(file).filter((target) => known.has(target))]));
}

/** Every cycle's files, one entry per strongly connected component larger than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('the import graph', () => {
  const graph = graphOf([...sourceFiles('lib'), ...sourceFiles('functions')]);

  it('reads the imports it is meant to check', () => {
    // Guards the reader: a regex that stopped matching would pass every other test here.
    expect(graph.get('lib/cli/main.ts')).toEqual(expect.arrayContaining(['lib/cli/commands/poll.ts']));
    expect(graph.get('lib/composition/open-runtime.ts')).toEqual(
      expect.arrayContaining(['lib/composition/aws.ts', 'lib/composition/local.ts']),
    );
  });

  it('has no cycle in lib/ or functions/', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps the sandbox (demo, private Dovecot) out of the pipeline: only the CLI imports it', () => {
    const sandbox = (target: string) => target.startsWith('lib/sandbox/');
    const importers = [...graph]
      .filter(([file, targets]) => !sandbox(file) && targets.some(sandbox))
      .map(([file]) => file)
      .sort();
    expect(importers).toEqual(['lib/cli/commands/demo.ts', 'lib/cli/entry.ts']);
  });
});
