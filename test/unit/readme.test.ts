/**
 * Keeps README.md honest: its YAML validates, its config reference is what the
 * generator produces from the schema today, and the commands, options and npm
 * scripts it tells people to run exist. The conventions are written in the
 * comment at the top of README.md.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { buildProgram } from '#lib/cli/main.ts';
import { parseConfig } from '#lib/config/load.ts';
import { accountSchema, configSchema } from '#lib/config/schema.ts';
import { ConfigError } from '#lib/errors.ts';
import {
  END_MARKER,
  extractReference,
  regenerateReadme,
  START_MARKER,
} from '../../scripts/gen-config-reference.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>;
};

interface CodeBlock {
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** `fragment: KEY` or `not-config`, from an HTML comment on the line before the fence. */
  marker?: string;
}

/** Fenced code blocks, indented ones (inside list items) included, with their bodies de-indented. */
function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent = '', fence = '', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trim().startsWith(fence)) {
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
      j++;
    }
    const before = i > 0 ? /^\s*<!--\s*(.*?)\s*-->\s*$/.exec(lines[i - 1]!) : null;
    blocks.push({
      lang,
      body: body.join('\n'),
      line: i + 1,
      ...(before?.[1] ? { marker: before[1] } : {}),
    });
    i = j;
  }
  return blocks;
}

/** The config text a YAML block stands for (fragments nested under their key), or undefined for not-config. */
function configText(block: CodeBlock): string | undefined {
  if (block.marker === 'not-config') return undefined;
  const fragment = block.marker ? /^fragment:\s*(\$?\w+)$/.exec(block.marker) : null;
  if (block.marker && !fragment) throw new Error(`README.md:${block.line}: unknown marker "${block.marker}"`);
  if (!fragment) return block.body;
  const nested = block.body
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');
  return `${fragment[1]}:\n${nested}\n`;
}

/** The `path: message` problems `postroom validate` would print (none for a valid config). */
function problems(text: string, origin: string): string[] {
  try {
    parseConfig(text, origin);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.length > 0 ? error.problems : [error.message];
    throw error;
  }
}

/** Text people copy and run: fenced blocks and inline code spans outside them. */
function codeLines(markdown: string): string[] {
  const out: string[] = [];
  const fenced = new Set<number>();
  const lines = markdown.split('\n');
  for (const block of codeBlocks(markdown)) {
    const count = block.body === '' ? 0 : block.body.split('\n').length;
    for (let n = block.line - 1; n <= block.line + count; n++) fenced.add(n);
    out.push(...block.body.split('\n'));
  }
  lines.forEach((line, index) => {
    if (fenced.has(index)) return;
    for (const span of line.matchAll(/`([^`]+)`/g)) out.push(span[1]!);
  });
  return out;
}

interface Invocation {
  command: string;
  options: string[];
  /** The first word after the command, when it is not an option (a subcommand such as `dead-letters list`). */
  subcommand?: string;
  text: string;
}

/** `postroom <command> [args]` invocations, up to the next pipe, `&&`, `;` or comment. */
function invocations(lines: string[]): Invocation[] {
  const found: Invocation[] = [];
  for (const line of lines) {
    for (const match of line.matchAll(/(?<![\w./@-])postroom +(?:-- +)?([a-z][\w-]*)([^|;#&]*)/g)) {
      const rest = match[2] ?? '';
      const options = rest
        .split(/\s+/)
        .filter((token) => /^--?[A-Za-z]/.test(token))
        .map((token) => token.replace(/=.*$/, ''));
      const first = rest.trim().split(/\s+/)[0];
      const subcommand = first && /^[a-z][\w-]*$/.test(first) ? first : undefined;
      found.push({
        command: match[1]!,
        options,
        ...(subcommand ? { subcommand } : {}),
        text: match[0].trim(),
      });
    }
  }
  return found;
}

function optionNames(command: Command): Set<string> {
  const names = new Set(['--help', '-h']);
  for (const option of command.options) {
    if (option.long) names.add(option.long);
    if (option.short) names.add(option.short);
  }
  // A command group (`oauth login`): its subcommands' options count as its own.
  for (const sub of command.commands) for (const name of optionNames(sub)) names.add(name);
  return names;
}

const readmeBlocks = codeBlocks(README);
const yamlBlocks = readmeBlocks.filter((b) => b.lang === 'yaml' || b.lang === 'yml');
const readmeWithoutReference =
  README.slice(0, README.indexOf(START_MARKER)) + README.slice(README.indexOf(END_MARKER));

describe('README.md YAML', () => {
  it('has the cookbook and deployment examples to check', () => {
    // Prepare / Act
    const configs = yamlBlocks.filter((b) => configText(b) !== undefined);

    // Assess: the four recipes, the rule contract, quick start, deploy and troubleshooting examples.
    expect(configs.length).toBeGreaterThanOrEqual(8);
  });

  it.each(yamlBlocks.map((block) => [block.line, block] as const))(
    'the yaml block at README.md line %i is a config postroom validate accepts',
    (line, block) => {
      // Prepare
      const text = configText(block);

      // Act
      const found = text === undefined ? [] : problems(text, `README.md:${line}`);

      // Assess
      expect(found).toEqual([]);
      if (text === undefined) expect(parseDocument(block.body).errors).toEqual([]);
    },
  );

  it('the block checker rejects a bad block and validates a marked fragment nested under its key', () => {
    // Prepare
    const sample = [
      '```yaml',
      'accounts:',
      '  - id: support',
      '    host: imap.example.com',
      '    port: "993"',
      '    auth: { user: u, password: { env: P } }',
      '```',
      '<!-- fragment: rules -->',
      '```yaml',
      '- name: flagged',
      '  then:',
      '    - flag: ["\\\\Flagged"]',
      '```',
    ].join('\n');

    // Act
    const [bad, fragment] = codeBlocks(sample);

    // Assess
    expect(problems(configText(bad!)!, 'sample')).toEqual(['accounts[0].port: expected a number']);
    expect(configText(fragment!)).toMatch(/^rules:\n {2}- name: flagged/);
    expect(problems(configText(fragment!)!, 'sample')).toEqual([]);
  });
});

describe('README.md config reference', () => {
  it('is exactly what npm run docs generates from the schema now', () => {
    // Prepare
    const current = extractReference(README);

    // Act
    const expected = extractReference(regenerateReadme(README));

    // Assess (on failure: run `npm run docs`)
    expect(current, 'README.md is out of date: run npm run docs').toBeDefined();
    expect(current, 'README.md is out of date: run npm run docs').toBe(expected);
  });

  it('has a row for every top-level config key and every account key of the schema', () => {
    // Prepare
    const reference = extractReference(README) ?? '';
    const shape = (schema: unknown): string[] => {
      const def = (schema as { _zod: { def: { type: string; in?: unknown; shape?: object } } })._zod.def;
      return def.type === 'pipe' ? shape(def.in) : Object.keys(def.shape ?? {});
    };
    const keys = [...shape(configSchema), ...shape(accountSchema)];

    // Act
    const missing = keys.filter(
      (key) => !new RegExp(`^\\| \`${key.replace('$', '\\$')}\` +\\|`, 'm').test(reference),
    );

    // Assess
    expect(keys.length).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });
});

describe('README.md commands', () => {
  const program = buildProgram();
  const commands = new Map(program.commands.map((c) => [c.name(), c]));
  const code = codeLines(readmeWithoutReference);

  it('names only postroom commands that exist, with options those commands take', () => {
    // Prepare
    const used = invocations(code);

    // Act
    const unknown = used.filter((u) => !commands.has(u.command)).map((u) => u.text);
    const badOptions = used.flatMap((u) => {
      const top = commands.get(u.command);
      if (!top) return [];
      // A command with subcommands (`dead-letters list`): the options are the subcommand's.
      const command = top.commands.find((c) => c.name() === u.subcommand) ?? top;
      const known = optionNames(command);
      return u.options.filter((o) => !known.has(o)).map((o) => `${u.text}: ${o}`);
    });

    // Assess
    expect(unknown).toEqual([]);
    expect(badOptions).toEqual([]);
    expect(new Set(used.map((u) => u.command))).toEqual(
      new Set([
        'validate',
        'poll',
        'process',
        'dry-run',
        'run',
        'demo',
        'status',
        'dead-letters',
        'replay',
        'oauth',
      ]),
    );
  });

  it('catches a command that does not exist', () => {
    // Prepare
    const sample = ['npx postroom frobnicate --config postroom.yaml', 'npx postroom poll --nope | jq .'];

    // Act
    const used = invocations(sample);

    // Assess
    expect(used.map((u) => u.command)).toEqual(['frobnicate', 'poll']);
    expect(commands.has('frobnicate')).toBe(false);
    expect(optionNames(commands.get('poll')!).has('--nope')).toBe(false);
  });

  it('never runs postroom through npx, and says how to run it instead', () => {
    // `npx postroom` outside the checkout resolves to an unrelated npm package of that name.
    expect(README).not.toMatch(/\bnpx +(-\S+ +)*postroom\b/);
    expect(code.filter((line) => /\bnpm run (-s )?postroom -- [a-z]/.test(line)).length).toBeGreaterThan(10);
    expect(README).toMatch(/npm link/);
    expect(README).toMatch(/unrelated package called `postroom`/);
  });

  it('runs only npm scripts that package.json has, and gives the two quick-start commands', () => {
    // Prepare
    const scripts = code.flatMap((line) =>
      [...line.matchAll(/\bnpm run (?:-s )?([\w:-]+)/g)].map((m) => m[1]!),
    );

    // Act
    const missing = [...new Set(scripts)].filter((name) => !(name in PACKAGE.scripts));

    // Assess
    expect(missing).toEqual([]);
    for (const bench of ['bench:ingest', 'bench:process', 'bench:lambda', 'bench:latency', 'bench:rules'])
      expect(scripts).toContain(bench);
    const quickStart = readmeBlocks.find((b) => b.lang === 'sh')!.body.split('\n');
    expect(quickStart[0]).toMatch(/^npm ci && npm start\s/);
    expect(quickStart[1]).toMatch(/^npm test\s/);
  });
});
