/**
 * The demo's config: one account on the private Dovecot, the example rules
 * (invoices, alerts, newsletters, prizes) plus bounces and
 * auto-replies, and the local store under `.postroom/demo`. It is written as
 * YAML first and then parsed by the same loader every command uses, so the
 * file a user finds in `.postroom/demo/postroom.yaml` is exactly what ran.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../config/load.ts';
import type { PostroomConfig } from '../../config/schema.ts';

/** The environment variable the demo account's password is read from (set in-process by the demo). */
export const DEMO_PASSWORD_ENV = 'POSTROOM_DEMO_PASSWORD';
/** The demo account's id in config, events and blob keys. */
export const DEMO_ACCOUNT_ID = 'demo';
/** The IMAP user name on the private Dovecot. */
export const DEMO_USER = 'demo';
/** Where the demo keeps its store, relative to the current directory. */
export const DEFAULT_DEMO_DIR = '.postroom/demo';

/** The folders the demo rules file mail into. */
export const DEMO_FOLDERS = {
  invoices: 'Finance/Invoices',
  newsletters: 'Newsletters',
  bounces: 'Bounces',
} as const;

/**
 * The demo rules, as a user would write them under `rules:`. The first four
 * are the rule language's example (`examples/postroom.example.yaml`,
 * `test/fixtures/rules/issue-example.yaml`).
 */
export const DEMO_RULES = [
  {
    name: 'bounces',
    description: 'Delivery-status reports (RFC 3464) from the mail system',
    when: {
      any: [
        { from: { matches: 'mailer-daemon@*' } },
        { header: { name: 'Content-Type', contains: 'report-type=delivery-status' } },
      ],
    },
    then: [{ move: DEMO_FOLDERS.bounces }, { emit: 'bounce.received' }],
    stop: true,
  },
  {
    name: 'invoices',
    when: {
      all: [{ from: { domain: 'acme.example' } }, { attachment: { name: { matches: '*.pdf' } } }],
    },
    then: [{ move: DEMO_FOLDERS.invoices }, { emit: 'invoice.received' }],
    stop: true,
  },
  {
    name: 'alerts',
    when: { subject: { contains: '[alert]' } },
    then: [{ flag: ['\\Flagged', 'alert'] }, { emit: 'alert.received' }],
  },
  {
    name: 'newsletters',
    when: { header: { name: 'List-Id', exists: true } },
    then: [{ copy: DEMO_FOLDERS.newsletters }, { flag: ['\\Seen'] }],
  },
  {
    name: 'prizes',
    when: { subject: { regex: 'gewinn(spiel)?' } },
    then: [{ delete: true }],
  },
  {
    name: 'auto-replies',
    when: { autoReply: true },
    then: [{ flag: ['\\Seen', 'auto-reply'] }],
    stop: true,
  },
];

export interface DemoConfigOptions {
  /** The private Dovecot's address (loopback). */
  host: string;
  /** Its implicit-TLS (IMAPS) port. */
  port: number;
  /** The PEM of the CA that signed its certificate: verified, not skipped. */
  caFile: string;
  /** The store directory (absolute, or relative to the current directory). @default .postroom/demo */
  storeDir?: string;
  /** @default rate(10 seconds): the safety net under IDLE */
  schedule?: string;
}

export interface DemoConfig {
  config: PostroomConfig;
  /** The same config as YAML, with a header comment, as written to `<store dir>/postroom.yaml`. */
  yaml: string;
}

/** Builds and validates the demo config. The password is a reference to {@link DEMO_PASSWORD_ENV}. */
export function buildDemoConfig(options: DemoConfigOptions): DemoConfig {
  const storeDir = displayPath(options.storeDir ?? DEFAULT_DEMO_DIR);
  const document = {
    accounts: [
      {
        id: DEMO_ACCOUNT_ID,
        host: options.host,
        port: options.port,
        // Implicit TLS, verified against the private instance's own CA, as for a real server.
        tls: true,
        tlsOptions: { ca: options.caFile },
        auth: { user: DEMO_USER, password: { env: DEMO_PASSWORD_ENV } },
        mailboxes: ['INBOX'],
        start: 'all',
        schedule: options.schedule ?? 'rate(10 seconds)',
        idle: true,
      },
    ],
    store: { kind: 'local', dir: storeDir },
    rules: DEMO_RULES,
  };
  const yaml =
    '# Written by `postroom demo`: the config the demo runs with. The Dovecot it points at\n' +
    '# lives only while the demo runs (its password is in POSTROOM_DEMO_PASSWORD, in-process).\n' +
    '# Check it with: postroom validate --config <this file>\n' +
    stringify(document, { lineWidth: 0 });
  return { config: parseConfig(yaml, 'demo config'), yaml };
}

/** A store path relative to the current directory when it is inside it (so the YAML is portable), else absolute. */
function displayPath(dir: string): string {
  const absolute = resolve(dir);
  const rel = relative(process.cwd(), absolute);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : absolute;
}
