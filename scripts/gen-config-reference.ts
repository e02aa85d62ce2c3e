/**
 * Generates the config reference in README.md from the one zod schema:
 * `npm run docs` rewrites the part between `<!-- config-reference:start -->`
 * and `<!-- config-reference:end -->`; `test/unit/readme.test.ts` fails when
 * that part differs from what this script produces now, so it cannot drift.
 *
 * Structure, types and defaults come from the zod schema objects themselves
 * (`lib/config/schema.ts`, `lib/rules/schema.ts` and the `lib/rules/*-schema.ts`
 * files it is split into). Descriptions come from the
 * TSDoc comments in those files (`SOURCES`), read with the TypeScript parser: the
 * schemas carry no descriptions at runtime, and the comments are what the
 * code's authors keep up to date. A zod object is matched to the object
 * literal it was built from by its set of keys, within the exported
 * declaration the walk is in (so `size: { over, under }` and `age: { over,
 * under }` never mix). Keys without a TSDoc comment fall back to the small
 * `FALLBACK_DESCRIPTIONS` table below; an entry there that no longer names a
 * key of the schema is an error, so the table cannot rot either.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as configModule from '#lib/config/schema.ts';
import * as actionRulesModule from '#lib/rules/action-schema.ts';
import * as conditionRulesModule from '#lib/rules/condition-schema.ts';
import * as folderRulesModule from '#lib/rules/folder-schema.ts';
import * as gmailRulesModule from '#lib/rules/gmail-schema.ts';
import * as rulesModule from '#lib/rules/schema.ts';
import * as valueRulesModule from '#lib/rules/value-schema.ts';

/** The markers around the generated part of README.md. */
export const START_MARKER = '<!-- config-reference:start -->';
export const END_MARKER = '<!-- config-reference:end -->';

const SOURCES = [
  {
    file: new URL('../lib/config/schema.ts', import.meta.url),
    module: configModule as Record<string, unknown>,
  },
  {
    file: new URL('../lib/rules/schema.ts', import.meta.url),
    module: rulesModule as Record<string, unknown>,
  },
  {
    file: new URL('../lib/rules/gmail-schema.ts', import.meta.url),
    module: gmailRulesModule as Record<string, unknown>,
  },
  // The parts lib/rules/schema.ts is split into.
  ...(
    [
      ['value-schema', valueRulesModule],
      ['folder-schema', folderRulesModule],
      ['condition-schema', conditionRulesModule],
      ['action-schema', actionRulesModule],
    ] as const
  ).map(([name, module]) => ({
    file: new URL(`../lib/rules/${name}.ts`, import.meta.url),
    module: module as Record<string, unknown>,
  })),
];

// ---------------------------------------------------------------------------
// Sections: where the reference splits into tables, and what a type that
// points at one is called elsewhere.

interface Section {
  /** The heading (Markdown). */
  title: string;
  /** How a field of this type is named in other tables. */
  label: string;
  schema: unknown;
  /** Keys that are the same schema objects as in this section are listed there, not again. */
  inherits?: string;
}

const SECTIONS: Section[] = [
  { title: 'Top level', label: 'config', schema: configModule.configSchema },
  { title: '`accounts[]`', label: 'account', schema: configModule.accountSchema },
  { title: '`store` with `kind: local`', label: 'local store', schema: configModule.localStoreSchema },
  { title: '`store` with `kind: aws`', label: 'AWS store', schema: configModule.awsStoreSchema },
  { title: '`ingest`', label: 'ingest settings', schema: configModule.ingestSchema },
  { title: '`process`', label: 'process settings', schema: configModule.processSchema },
  { title: '`aws`', label: 'deployment settings', schema: configModule.awsDeploySchema },
  { title: '`rules[]`', label: 'rule', schema: rulesModule.ruleSchema },
  { title: 'Conditions: `rules[].when`', label: 'condition', schema: rulesModule.conditionSchema },
  { title: 'Actions: `rules[].then[]`', label: 'action', schema: rulesModule.actionSchema },
  { title: 'String tests', label: 'string test', schema: rulesModule.stringTestSchema },
  {
    title: 'Address tests',
    label: 'address test',
    schema: rulesModule.addressTestSchema,
    inherits: 'String tests',
  },
  {
    title: 'Header tests',
    label: 'header test',
    schema: rulesModule.headerTestSchema,
    inherits: 'String tests',
  },
];

/**
 * Descriptions for keys whose schema has no TSDoc comment, by
 * `<section title> <path>`. Prefer adding a TSDoc comment in the schema.
 */
const FALLBACK_DESCRIPTIONS: Record<string, string> = {
  '`accounts[]` port': 'The IMAP port.',
  '`accounts[]` auth.method':
    '`login`: LOGIN, or AUTHENTICATE PLAIN when the server disables LOGIN (LOGINDISABLED); `plain`: AUTHENTICATE PLAIN; `xoauth2` / `oauthbearer`: AUTHENTICATE XOAUTH2 / OAUTHBEARER (RFC 7628) with an access token from `oauth2`.',
  '`aws` poller.timeoutSeconds': 'Lambda timeout of the poll function; a poll stops cleanly before it.',
  '`aws` poller.memoryMb': 'Lambda memory of the poll function.',
  '`aws` processor.timeoutSeconds':
    "Lambda timeout of the process function; the queue's visibility timeout is 6× this.",
  '`aws` processor.memoryMb': 'Lambda memory of the process function.',
  '`aws` logRetentionDays':
    "CloudWatch Logs retention of the functions' log groups, in days (a value CloudWatch offers).",
  '`rules[]` enabled': '`false` keeps the rule in the config without evaluating it.',
  'Conditions: `rules[].when` from': 'The From addresses.',
  'Conditions: `rules[].when` to': 'The To addresses.',
  'Conditions: `rules[].when` cc': 'The Cc addresses.',
  'Conditions: `rules[].when` subject': 'The subject, decoded (RFC 2047).',
  'String tests caseSensitive': 'Compare case-sensitively (all tests are case-insensitive by default).',
  'Top level $schema': 'Path or URL of `postroom.schema.json`, for editors (`npm run schema` writes it).',
  'Top level accounts': 'The IMAP accounts to poll.',
  'Top level store':
    'Where mail, queue and state live: `kind: local` (a folder and SQLite) or `kind: aws` (S3, SQS, DynamoDB).',
  '`accounts[]` id': 'Names the account in blob keys, events, logs and `--account`. Unique.',
  '`accounts[]` host': 'The IMAP server.',
  '`accounts[]` tlsOptions': 'Certificate checks for TLS and STARTTLS.',
  '`accounts[]` auth': 'How to log in.',
  '`accounts[]` auth.user': 'The IMAP user name.',
  '`accounts[]` mailboxes':
    'Mailboxes to poll, by logical name with `/` between levels; an entry may set its own `start` and `idle`.',
  '`store` with `kind: local` kind': 'The embedded stand-ins: a folder and SQLite.',
  '`store` with `kind: aws` kind': 'S3, SQS, DynamoDB and EventBridge (for `postroom poll` against AWS).',
  '`store` with `kind: aws` bucket': 'S3 bucket for raw mail and saved attachments.',
  '`store` with `kind: aws` queueUrl': 'URL of the SQS ingest queue.',
  '`store` with `kind: aws` table': 'DynamoDB table for checkpoints, leases and idempotency records.',
  '`store` with `kind: aws` eventBus': 'EventBridge bus for `emit` actions.',
  '`store` with `kind: aws` region': 'AWS region of these resources (else the SDK default).',
  '`aws` poller': 'The poll function.',
  '`aws` processor': 'The process function and its queue.',
  '`rules[]` description': 'Free text, for people.',
  '`rules[]` then': 'The actions, one key per list item, done in order.',
  'Conditions: `rules[].when` all': 'Every condition in the list holds.',
  'Conditions: `rules[].when` any': 'At least one condition in the list holds.',
  'Conditions: `rules[].when` not': 'The condition does not hold.',
  'Conditions: `rules[].when` header': 'Any occurrence of one header, decoded (RFC 2047).',
  'Conditions: `rules[].when` attachment':
    'Has an attachment (`true`/`false`), or one that satisfies every given key.',
  'Conditions: `rules[].when` size': 'The message size (RFC822.SIZE); K, M, G are powers of 1024.',
  'Conditions: `rules[].when` age': "The age by the server's internal date (arrival time).",
  'Conditions: `rules[].when` date': "The server's internal date (arrival time).",
  'Conditions: `rules[].when` flags': 'IMAP flags, compared case-insensitively.',
  'Conditions: `rules[].when` flags.has': 'Every one of these flags is set.',
  'Conditions: `rules[].when` flags.lacks': 'None of these flags is set.',
  'Actions: `rules[].then[]` webhook.url': 'An https:// URL (http:// only to a loopback host).',
  'Header tests name': 'The header field name, e.g. `List-Id`.',
};

/**
 * Shared value types, named instead of spelled out (`10MB` says more than
 * "number or string"). Keyed by the schema objects, so a renamed export is a
 * compile error here.
 */
const TYPE_NAMES = new Map<unknown, string>([
  [configModule.secretRefSchema, '`{ env: VARIABLE }` | `{ secret: NAME-OR-ARN }`'],
  [configModule.scheduleSchema, '`rate(...)` | `cron(...)`'],
  [rulesModule.sizeSchema, 'size: bytes, or `10MB`, `"500 KB"`'],
  [rulesModule.durationSchema, 'duration: `30d`, `12h`, `2w`, `90m`, `45s`'],
  [rulesModule.folderTargetSchema, 'folder name (`Finance/Invoices`) | `{ specialUse: "\\Junk" }`'],
  [rulesModule.flagSchema, 'flag'],
]);

// ---------------------------------------------------------------------------
// TSDoc from the source files

interface Doc {
  text: string;
  defaultTag?: string;
}

interface Declaration {
  name: string;
  file: ts.SourceFile;
  initializer?: ts.Expression;
  doc?: Doc;
  /** Interface named in a `z.ZodType<Interface>` annotation: its members document the keys. */
  typeArgument?: string;
}

interface ObjectSpec {
  keys: string[];
  docs: Map<string, Doc>;
}

class SourceDocs {
  readonly #declarations = new Map<string, Declaration>();
  readonly #interfaces = new Map<string, Map<string, Doc>>();
  /** Exported schema objects by identity, to know which declaration the walk is in. */
  readonly #exports = new Map<unknown, Declaration>();

  constructor(sources: typeof SOURCES) {
    for (const { file, module } of sources) {
      const path = fileURLToPath(file);
      const source = ts.createSourceFile(
        path,
        readFileSync(path, 'utf8'),
        { languageVersion: ts.ScriptTarget.ES2022, jsDocParsingMode: ts.JSDocParsingMode.ParseAll },
        true,
      );
      for (const statement of source.statements) {
        if (ts.isVariableStatement(statement)) {
          for (const declaration of statement.declarationList.declarations) {
            if (!ts.isIdentifier(declaration.name)) continue;
            const name = declaration.name.text;
            const annotation = declaration.type;
            const typeArgument =
              annotation && ts.isTypeReferenceNode(annotation) && annotation.typeArguments?.[0]
                ? annotation.typeArguments[0].getText(source)
                : undefined;
            const doc = docOf(statement);
            const entry: Declaration = {
              name,
              file: source,
              ...(declaration.initializer ? { initializer: declaration.initializer } : {}),
              ...(doc ? { doc } : {}),
              ...(typeArgument ? { typeArgument } : {}),
            };
            this.#declarations.set(`${path}#${name}`, entry);
            if (name in module) this.#exports.set(module[name], entry);
          }
        } else if (ts.isInterfaceDeclaration(statement)) {
          const members = new Map<string, Doc>();
          for (const member of statement.members) {
            const doc = docOf(member);
            if (member.name && ts.isIdentifier(member.name) && doc) members.set(member.name.text, doc);
          }
          this.#interfaces.set(`${path}#${statement.name.text}`, members);
          const doc = docOf(statement);
          if (doc) this.#interfaces.get(`${path}#${statement.name.text}`)!.set('', doc);
        }
      }
    }
  }

  /** The exported declaration a schema object is, if it is one. */
  declarationOf(schema: unknown): Declaration | undefined {
    return this.#exports.get(schema);
  }

  /** The declaration's own comment, or its interface's. */
  describe(declaration: Declaration): Doc | undefined {
    if (declaration.doc) return declaration.doc;
    return this.#interfaceDocs(declaration)?.get('');
  }

  /** TSDoc per key for the object literal with exactly these keys inside `declaration`. */
  keyDocs(declaration: Declaration | undefined, keys: string[]): Map<string, Doc> {
    if (!declaration) return new Map();
    const wanted = [...keys].sort().join(',');
    const spec = this.#objectSpecs(declaration).find((s) => [...s.keys].sort().join(',') === wanted);
    const docs = new Map(spec?.docs ?? []);
    for (const [key, doc] of this.#interfaceDocs(declaration) ?? []) if (!docs.has(key)) docs.set(key, doc);
    return docs;
  }

  #interfaceDocs(declaration: Declaration): Map<string, Doc> | undefined {
    if (!declaration.typeArgument) return undefined;
    return this.#interfaces.get(`${declaration.file.fileName}#${declaration.typeArgument}`);
  }

  /** Object literals passed to `z.object`/`z.strictObject` in the initializer, following local constants. */
  #objectSpecs(declaration: Declaration): ObjectSpec[] {
    const specs: ObjectSpec[] = [];
    const seen = new Set<string>();
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        /\b(strictObject|object|looseObject)$/.test(node.expression.getText())
      ) {
        const literal = this.#literal(node.arguments[0], declaration.file);
        if (literal) specs.push(this.#spec(literal, declaration.file));
      }
      if (ts.isIdentifier(node) && !ts.isPropertyAccessExpression(node.parent)) {
        // A module-private constant (e.g. `stringTestObjectSchema`) belongs to the
        // declaration that uses it; exported ones are reached by identity instead.
        const local = this.#declarations.get(`${declaration.file.fileName}#${node.text}`);
        const key = `${declaration.file.fileName}#${node.text}`;
        if (local?.initializer && !seen.has(key) && !this.#isExported(local)) {
          seen.add(key);
          visit(local.initializer);
        }
      }
      ts.forEachChild(node, visit);
    };
    if (declaration.initializer) visit(declaration.initializer);
    return specs;
  }

  #isExported(declaration: Declaration): boolean {
    for (const entry of this.#exports.values()) if (entry === declaration) return true;
    return false;
  }

  #literal(node: ts.Node | undefined, file: ts.SourceFile): ts.ObjectLiteralExpression | undefined {
    if (!node) return undefined;
    if (ts.isObjectLiteralExpression(node)) return node;
    if (ts.isIdentifier(node)) {
      const init = this.#declarations.get(`${file.fileName}#${node.text}`)?.initializer;
      return init && ts.isObjectLiteralExpression(init) ? init : undefined;
    }
    return undefined;
  }

  #spec(literal: ts.ObjectLiteralExpression, file: ts.SourceFile): ObjectSpec {
    const keys: string[] = [];
    const docs = new Map<string, Doc>();
    for (const property of literal.properties) {
      if (ts.isSpreadAssignment(property)) {
        const spread = this.#literal(property.expression, file);
        if (spread) {
          const inner = this.#spec(spread, file);
          keys.push(...inner.keys);
          for (const [key, doc] of inner.docs) docs.set(key, doc);
        }
        continue;
      }
      const name = property.name;
      if (!name || !(ts.isIdentifier(name) || ts.isStringLiteral(name))) continue;
      keys.push(name.text);
      const doc = docOf(property);
      if (doc) docs.set(name.text, doc);
    }
    return { keys, docs };
  }
}

function docOf(node: ts.Node): Doc | undefined {
  const jsDocs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const jsDoc = jsDocs[jsDocs.length - 1];
  if (!jsDoc) return undefined;
  const text = tidy(ts.getTextOfJSDocComment(jsDoc.comment) ?? '');
  const tag = jsDoc.tags?.find((t) => t.tagName.text === 'default');
  const defaultTag = tag ? tidy(ts.getTextOfJSDocComment(tag.comment) ?? '') : undefined;
  if (text === '' && defaultTag === undefined) return undefined;
  return { text, ...(defaultTag !== undefined ? { defaultTag } : {}) };
}

function tidy(text: string): string {
  return text
    .replace(/\{@link\s+([^}\s]+)\s*\}/g, '`$1`')
    .replace(/\s+/g, ' ')
    .trim();
}

// ---------------------------------------------------------------------------
// Walking the zod schema

type Def = { type: string; [key: string]: unknown };
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

interface Unwrapped {
  core: unknown;
  optional: boolean;
  defaultValue?: unknown;
  hasDefault: boolean;
  /** Every schema object passed on the way in (wrappers included), outermost first. */
  layers: unknown[];
}

function unwrap(schema: unknown): Unwrapped {
  const layers: unknown[] = [];
  let current = schema;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    layers.push(current);
    const def = defOf(current);
    if (def.type === 'optional' || def.type === 'nullable') {
      optional = true;
      current = def.innerType;
    } else if (def.type === 'default' || def.type === 'prefault') {
      if (!hasDefault) {
        hasDefault = true;
        defaultValue = def.defaultValue;
      }
      current = def.innerType;
    } else if (def.type === 'pipe') {
      current = def.in;
    } else if (def.type === 'lazy') {
      current = (def.getter as () => unknown)();
    } else {
      return { core: current, optional, hasDefault, defaultValue, layers };
    }
  }
}

interface Row {
  path: string;
  type: string;
  default: string;
  description: string;
}

/** Turns the zod schema into reference tables. */
class ReferenceWriter {
  readonly #docs: SourceDocs;
  readonly #sectionOf = new Map<unknown, Section>();
  readonly #usedFallbacks = new Set<string>();

  constructor(docs: SourceDocs) {
    this.#docs = docs;
    for (const section of SECTIONS) {
      for (const layer of unwrap(section.schema).layers) this.#sectionOf.set(layer, section);
    }
  }

  render(): string {
    const out: string[] = [
      '<!-- Generated by `npm run docs` (scripts/gen-config-reference.ts) from lib/config/schema.ts and',
      '     lib/rules/schema.ts, descriptions from their TSDoc comments. Edit those, not this. -->',
      '',
    ];
    for (const section of SECTIONS) {
      out.push(`#### ${section.title}`, '');
      const declaration = this.#docs.declarationOf(section.schema);
      const intro = declaration ? this.#docs.describe(declaration)?.text : undefined;
      if (intro) out.push(intro, '');
      const inherited = section.inherits ? SECTIONS.find((s) => s.title === section.inherits) : undefined;
      if (inherited) out.push(`Every key of a _${inherited.label}_ (see ${inherited.title}), and:`, '');
      const rows = this.#sectionRows(section, inherited);
      out.push('| key | type | default | description |', '| --- | --- | --- | --- |');
      for (const row of rows) {
        out.push(`| \`${row.path}\` | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.description)} |`);
      }
      out.push('');
    }
    const stale = Object.keys(FALLBACK_DESCRIPTIONS).filter((key) => !this.#usedFallbacks.has(key));
    if (stale.length > 0) {
      throw new Error(
        `FALLBACK_DESCRIPTIONS names keys the schema no longer has (or now documents): ${stale.join(', ')}`,
      );
    }
    return `${out.join('\n').trimEnd()}\n`;
  }

  #sectionRows(section: Section, inherited: Section | undefined): Row[] {
    const rows: Row[] = [];
    const { core, layers } = unwrap(section.schema);
    const declaration = layers.map((l) => this.#docs.declarationOf(l)).find(Boolean);
    const skip = inherited ? this.#objectShape(inherited.schema) : undefined;
    for (const object of this.#objectsOf(core)) {
      this.#expandObject(object, '', declaration, section, rows, skip);
    }
    return rows;
  }

  /** The object schemas a section root stands for (an object, or the objects of a union). */
  #objectsOf(core: unknown): unknown[] {
    const def = defOf(core);
    if (def.type === 'object') return [core];
    if (def.type === 'union')
      return (def.options as unknown[])
        .filter((o) => defOf(unwrap(o).core).type === 'object')
        .map((o) => unwrap(o).core);
    return [];
  }

  #objectShape(schema: unknown): Record<string, unknown> {
    const [object] = this.#objectsOf(unwrap(schema).core);
    return object ? (defOf(object).shape as Record<string, unknown>) : {};
  }

  #expandObject(
    object: unknown,
    prefix: string,
    declaration: Declaration | undefined,
    section: Section,
    rows: Row[],
    skip?: Record<string, unknown>,
  ): void {
    const shape = defOf(object).shape as Record<string, unknown>;
    const docs = this.#docs.keyDocs(declaration, Object.keys(shape));
    for (const [key, field] of Object.entries(shape)) {
      if (skip && skip[key] === field) continue;
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const info = unwrap(field);
      const fieldDeclaration = info.layers.map((l) => this.#docs.declarationOf(l)).find(Boolean);
      const own = docs.get(key);
      const fallbackKey = `${section.title} ${path}`;
      let description = own?.text ?? '';
      // A field typed by a shared declaration (`startSchema`, ...) takes that declaration's
      // comment; one that points at another table only in the top-level table, where
      // it stands for that table.
      const sharedDoc =
        fieldDeclaration && (!this.#sectionOf.has(info.core) || section === SECTIONS[0])
          ? this.#docs.describe(fieldDeclaration)?.text
          : undefined;
      if (description === '') description = sharedDoc ?? '';
      if (description === '' && FALLBACK_DESCRIPTIONS[fallbackKey] !== undefined) {
        description = FALLBACK_DESCRIPTIONS[fallbackKey];
        this.#usedFallbacks.add(fallbackKey);
      }
      rows.push({
        path,
        type: this.#typeOf(info.core),
        default: info.hasDefault
          ? defaultText(info.defaultValue)
          : own?.defaultTag !== undefined
            ? /^\S+$/.test(own.defaultTag)
              ? `\`${own.defaultTag}\``
              : own.defaultTag
            : info.optional
              ? ''
              : 'required',
        description,
      });
      this.#expandChildren(info.core, path, fieldDeclaration ?? declaration, section, rows);
    }
  }

  #expandChildren(
    core: unknown,
    path: string,
    declaration: Declaration | undefined,
    section: Section,
    rows: Row[],
  ): void {
    if (this.#sectionOf.has(core)) return;
    const def = defOf(core);
    if (def.type === 'object') {
      this.#expandObject(core, path, declaration, section, rows);
    } else if (def.type === 'array') {
      const element = unwrap(def.element);
      const elementDeclaration = element.layers.map((l) => this.#docs.declarationOf(l)).find(Boolean);
      this.#expandChildren(element.core, `${path}[]`, elementDeclaration ?? declaration, section, rows);
    } else if (def.type === 'union') {
      for (const option of def.options as unknown[]) {
        const member = unwrap(option);
        if (defOf(member.core).type !== 'object' || this.#sectionOf.has(member.core)) continue;
        const memberDeclaration = member.layers.map((l) => this.#docs.declarationOf(l)).find(Boolean);
        const shape = defOf(member.core).shape as Record<string, unknown>;
        // Only members with documented keys get rows; the others read well inline, e.g. `{ env }`.
        const documented = this.#docs.keyDocs(memberDeclaration ?? declaration, Object.keys(shape)).size > 0;
        if (documented)
          this.#expandObject(member.core, path, memberDeclaration ?? declaration, section, rows);
      }
    }
  }

  #typeOf(schema: unknown): string {
    const { core } = unwrap(schema);
    const target = this.#sectionOf.get(core);
    if (target) return `_${target.label}_`;
    const named = TYPE_NAMES.get(core) ?? TYPE_NAMES.get(schema);
    if (named) return named;
    const def = defOf(core);
    switch (def.type) {
      case 'string': {
        const format = def.format as string | undefined;
        if (format === 'date') return 'ISO date';
        if (format === 'datetime') return 'ISO date-time';
        if (format === 'url') return 'URL';
        return 'string';
      }
      case 'number':
        return numberType(def);
      case 'boolean':
        return 'boolean';
      case 'literal':
        return (def.values as unknown[]).map((v) => `\`${String(v)}\``).join(' | ');
      case 'enum':
        return Object.values(def.entries as Record<string, string>)
          .map((v) => `\`${v}\``)
          .join(' | ');
      case 'array':
        return `list of ${this.#typeOf(def.element)}`;
      case 'union': {
        const parts = (def.options as unknown[]).map((o) => this.#typeOf(o));
        return [...new Set(parts)].join(' | ');
      }
      case 'object': {
        const shape = def.shape as Record<string, unknown>;
        // Inline shape for small objects inside unions; nested objects get their own rows.
        const keys = Object.entries(shape).map(
          ([key, value]) => `${key}${unwrap(value).optional || unwrap(value).hasDefault ? '?' : ''}`,
        );
        return `{ ${keys.join(', ')} }`;
      }
      default:
        return def.type;
    }
  }
}

function numberType(def: Def): string {
  let integer = false;
  let min: string | undefined;
  let max: string | undefined;
  for (const check of (def.checks as { _zod: { def: Record<string, unknown> } }[] | undefined) ?? []) {
    const c = check._zod.def;
    if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32')) integer = true;
    if (c.check === 'greater_than') min = `${c.inclusive ? '≥' : '>'} ${String(c.value)}`;
    if (c.check === 'less_than') max = `${c.inclusive ? '≤' : '<'} ${String(c.value)}`;
  }
  const base = integer ? 'integer' : 'number';
  if (min?.startsWith('≥') && max?.startsWith('≤')) return `${base} ${min.slice(2)}–${max.slice(2)}`;
  return [base, min, max].filter(Boolean).join(', ');
}

function defaultText(value: unknown): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return `\`[${value.map(String).join(', ')}]\``;
  if (value !== null && typeof value === 'object') {
    const flow = `{ ${Object.entries(value)
      .map(([key, v]) => `${key}: ${String(v)}`)
      .join(', ')} }`;
    return flow.length <= 40 ? `\`${flow}\`` : '(see below)';
  }
  if (typeof value === 'number' && value >= 1024 * 1024 && value % (1024 * 1024) === 0) {
    return `\`${value}\` (${value / (1024 * 1024)} MiB)`;
  }
  return `\`${String(value)}\``;
}

/** Markdown table cells cannot hold `|` or line breaks. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

// ---------------------------------------------------------------------------

/** The generated reference (Markdown), exactly as it goes between the markers. */
export function renderConfigReference(): string {
  return new ReferenceWriter(new SourceDocs(SOURCES)).render();
}

/** README text with the part between the markers replaced by `reference`. */
export function replaceReference(readme: string, reference: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`README.md needs ${START_MARKER} and then ${END_MARKER}`);
  }
  return `${readme.slice(0, start + START_MARKER.length)}\n\n${reference}\n${readme.slice(end)}`;
}

/** The part between the markers, as `replaceReference` writes it. */
export function extractReference(readme: string): string | undefined {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start) return undefined;
  return readme
    .slice(start + START_MARKER.length, end)
    .replace(/^\n\n/, '')
    .replace(/\n$/, '');
}

export const README_URL = new URL('../README.md', import.meta.url);

const BIOME = fileURLToPath(new URL('../node_modules/.bin/biome', import.meta.url));

/**
 * Formats Markdown the way `npm run lint` (Biome) wants it: Biome formats
 * Markdown too (it aligns table columns), so the generated tables must be
 * written in Biome's layout or lint and the drift test would disagree.
 */
export function formatMarkdown(markdown: string): string {
  return execFileSync(BIOME, ['format', '--stdin-file-path=README.md'], {
    input: markdown,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** README.md text with the reference regenerated and the whole file formatted. */
export function regenerateReadme(readme: string): string {
  return formatMarkdown(replaceReference(readme, renderConfigReference()));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const before = readFileSync(README_URL, 'utf8');
  const after = regenerateReadme(before);
  if (after === before) {
    console.log('README.md: config reference is up to date');
  } else {
    writeFileSync(README_URL, after);
    console.log('README.md: config reference regenerated');
  }
}
