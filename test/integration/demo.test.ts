/**
 * `postroom demo` end to end: its own private Dovecot, the seeded mailbox, the
 * real pipeline with the example rules, and then the server's folders and
 * flags and the events file — looked at over a separate IMAP session, never
 * through the code under test. Also the CLI (`--once --json`), `npm start`'s
 * choice of mode, and the running demo's drop folder.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#lib/config/load.ts';
import { DEMO_FOLDERS, DEMO_PASSWORD_ENV, DEMO_USER } from '#lib/sandbox/demo/config.ts';
import {
  DemoDirectoryError,
  type DemoEnvironment,
  type DemoMessageReport,
  type DemoOnceResult,
  DemoRunningError,
  DemoUnavailableError,
  runDemoOnce,
  startDemo,
  watchDemo,
} from '#lib/sandbox/demo/demo.ts';
import { type DemoKind, demoMessages, sampleDropMessage } from '#lib/sandbox/demo/messages.ts';
import { chooseStartMode, isPlaceholderHost } from '#lib/sandbox/demo/start-mode.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const seeded = demoMessages();
const subjectsOf = (kind: DemoKind) => seeded.filter((m) => m.kind === kind).map((m) => m.subject);

interface ServerMessage {
  uid: number;
  subject: string;
  flags: string[];
}

/** Every message of a mailbox with its decoded subject and flags (read-only). */
async function listMessages(client: ImapFlow, mailbox: string): Promise<ServerMessage[]> {
  const lock = await client.getMailboxLock(mailbox, { readOnly: true });
  try {
    // An already open mailbox keeps its old view until the server is asked: NOOP reports new mail (RFC 3501 6.1.2).
    await client.noop();
    if (!client.mailbox || client.mailbox.exists === 0) return [];
    const out: ServerMessage[] = [];
    for await (const m of client.fetch('1:*', { uid: true, flags: true, envelope: true }, { uid: true })) {
      out.push({ uid: m.uid, subject: m.envelope?.subject ?? '', flags: [...(m.flags ?? [])] });
    }
    return out;
  } finally {
    lock.release();
  }
}

async function readEvents(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('postroom demo, one pass in process', () => {
  let work: string;
  let result: DemoOnceResult;
  let client: ImapFlow;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'postroom-demo-test-'));
    result = await runDemoOnce({ dir: join(work, 'demo'), keepServer: true });
    const { dovecot } = result.demo;
    client = new ImapFlow({
      host: dovecot.host,
      port: dovecot.ports.full.imaps,
      secure: true,
      tls: { ca: await readFile(dovecot.caFile), rejectUnauthorized: true },
      auth: { user: DEMO_USER, pass: process.env[DEMO_PASSWORD_ENV]! },
      logger: false,
      disableAutoIdle: true,
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.logout().catch(() => client.close());
    await result?.demo.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('fetches and processes every seeded message without a failure', () => {
    // Assess
    expect(result.report.fetched).toBe(seeded.length);
    expect(result.report.processed).toBe(seeded.length);
    expect(result.report.failed).toBe(0);
    expect(result.report.messages.map((m) => m.subject)).toEqual(seeded.map((m) => m.subject));
  });

  it('moves the vendor invoices with PDFs into Finance/Invoices and leaves its other mail in INBOX', async () => {
    // Act
    const invoices = await listMessages(client, DEMO_FOLDERS.invoices);
    const inbox = await listMessages(client, 'INBOX');

    // Assess
    expect(invoices.map((m) => m.subject).sort()).toEqual(subjectsOf('invoice').sort());
    expect(inbox.map((m) => m.subject)).not.toEqual(expect.arrayContaining([subjectsOf('invoice')[0]]));
    expect(inbox.map((m) => m.subject)).toContain('Ihr Kundenkonto bei ACME: neue Anschrift bestätigt');
  });

  it('flags the alerts \\Flagged with the alert keyword and keeps them in INBOX', async () => {
    // Act
    const inbox = await listMessages(client, 'INBOX');
    const alerts = inbox.filter((m) => subjectsOf('alert').includes(m.subject));

    // Assess
    expect(alerts).toHaveLength(subjectsOf('alert').length);
    for (const alert of alerts) expect(alert.flags).toEqual(expect.arrayContaining(['\\Flagged', 'alert']));
    const others = inbox.filter((m) => !subjectsOf('alert').includes(m.subject));
    for (const other of others) expect(other.flags).not.toContain('\\Flagged');
  });

  it('copies the newsletters to Newsletters and marks the originals \\Seen', async () => {
    // Act
    const copies = await listMessages(client, DEMO_FOLDERS.newsletters);
    const originals = (await listMessages(client, 'INBOX')).filter((m) =>
      subjectsOf('newsletter').includes(m.subject),
    );

    // Assess
    expect(copies.map((m) => m.subject).sort()).toEqual(subjectsOf('newsletter').sort());
    expect(originals).toHaveLength(subjectsOf('newsletter').length);
    for (const original of originals) expect(original.flags).toContain('\\Seen');
  });

  it('deletes the prize spam from INBOX and moves the bounce to Bounces', async () => {
    // Act
    const inbox = await listMessages(client, 'INBOX');
    const bounces = await listMessages(client, DEMO_FOLDERS.bounces);

    // Assess
    expect(inbox.map((m) => m.subject)).not.toContain(subjectsOf('prize')[0]);
    expect(bounces.map((m) => m.subject)).toEqual(subjectsOf('bounce'));
    expect(inbox.map((m) => m.subject)).not.toContain(subjectsOf('bounce')[0]);
  });

  it('leaves personal mail unread and unflagged, and marks the auto-reply read', async () => {
    // Act
    const inbox = await listMessages(client, 'INBOX');

    // Assess
    const personal = inbox.filter((m) => subjectsOf('personal').includes(m.subject));
    expect(personal).toHaveLength(subjectsOf('personal').length);
    for (const m of personal) expect(m.flags).toEqual([]);
    const autoReply = inbox.find((m) => m.subject === subjectsOf('auto-reply')[0]);
    expect(autoReply?.flags).toEqual(expect.arrayContaining(['\\Seen', 'auto-reply']));
  });

  it('writes invoice.received, alert.received and bounce.received events with source postroom', async () => {
    // Act
    const events = await readEvents(result.demo.eventsFile);

    // Assess
    const count = (type: string) => events.filter((e) => e['detail-type'] === type).length;
    expect(count('invoice.received')).toBe(subjectsOf('invoice').length);
    expect(count('alert.received')).toBe(subjectsOf('alert').length);
    expect(count('bounce.received')).toBe(1);
    expect(events).toHaveLength(result.report.events);
    for (const event of events) {
      expect(event.source).toBe('postroom');
      expect(event.detail).toMatchObject({ account: 'demo', mailbox: 'INBOX' });
    }
    const invoice = events.find((e) => e['detail-type'] === 'invoice.received')!;
    expect(invoice.detail).toMatchObject({
      rule: 'invoices',
      envelope: { subject: subjectsOf('invoice')[0] },
    });
  });

  it('reports the rules, actions and events of each message', () => {
    // Prepare
    const bySubject = new Map(result.report.messages.map((m) => [m.subject, m]));
    const report = (kind: DemoKind): DemoMessageReport => bySubject.get(subjectsOf(kind)[0]!)!;

    // Assess
    expect(report('invoice')).toMatchObject({
      rules: ['invoices'],
      actions: ['move Finance/Invoices', 'emit invoice.received'],
      events: ['invoice.received'],
    });
    expect(report('alert')).toMatchObject({ rules: ['alerts'], events: ['alert.received'] });
    expect(report('prize')).toMatchObject({ rules: ['prizes'], actions: ['delete'], events: [] });
    expect(report('personal')).toMatchObject({ rules: [], actions: [], events: [] });
    expect(result.report.actions).toMatchObject({
      move: 7,
      delete: 1,
      copy: subjectsOf('newsletter').length,
    });
  });

  it('writes the config that ran, which validates and points at the verified TLS port', async () => {
    // Act
    const config = await loadConfig(result.demo.configFile);

    // Assess
    expect(config.accounts[0]).toMatchObject({
      host: '127.0.0.1',
      port: result.demo.dovecot.ports.full.imaps,
      tls: true,
      tlsOptions: { ca: result.demo.dovecot.caFile, rejectUnauthorized: true },
      auth: { password: { env: DEMO_PASSWORD_ENV } },
    });
    expect(await readFile(result.demo.configFile, 'utf8')).not.toContain(process.env[DEMO_PASSWORD_ENV]!);
  });

  it('keeps running: a file dropped into drop/ is appended, processed and moved to drop/done/', async () => {
    // Prepare
    const processed: DemoMessageReport[] = [];
    const watch = await watchDemo(result.demo, { onProcessed: (batch) => processed.push(...batch.messages) });
    try {
      // Act
      await writeFile(join(result.demo.dropDir, 'new-alert.eml'), sampleDropMessage(7));
      await expect
        .poll(() => processed.map((m) => m.subject), { timeout: 30_000, interval: 200 })
        .toContain('[alert] Sample alert #7 dropped into the demo');
    } finally {
      await watch.stop();
    }

    // Assess
    const dropped = processed.find((m) => m.subject.includes('#7'))!;
    expect(dropped).toMatchObject({ rules: ['alerts'], events: ['alert.received'] });
    expect(await readdir(join(result.demo.dropDir, 'done'))).toEqual(['new-alert.eml']);
    const inbox = await listMessages(client, 'INBOX');
    expect(inbox.find((m) => m.subject.includes('#7'))?.flags).toEqual(
      expect.arrayContaining(['\\Flagged', 'alert']),
    );
  });
});

describe('postroom demo, guards', () => {
  it('refuses to wipe a directory that is not a demo directory', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'postroom-demo-guard-'));
    await writeFile(join(dir, 'thesis.tex'), 'precious');
    try {
      // Act / Assess
      await expect(startDemo({ dir })).rejects.toBeInstanceOf(DemoDirectoryError);
      expect(await readFile(join(dir, 'thesis.tex'), 'utf8')).toBe('precious');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to wipe the directory of a demo that is still running, and wipes one whose demo is gone', async () => {
    // Prepare: a directory a live process on this host owns, and one whose owner has exited
    const live = await mkdtemp(join(tmpdir(), 'postroom-demo-live-'));
    const gone = await mkdtemp(join(tmpdir(), 'postroom-demo-gone-'));
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const exited = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => exited.once('exit', resolve));
    for (const [dir, pid] of [
      [live, holder.pid],
      [gone, exited.pid],
    ] as const) {
      await writeFile(join(dir, '.postroom-demo'), 'a demo directory');
      await writeFile(join(dir, '.postroom-demo-owner'), `${pid} ${hostname()}\n`);
      await writeFile(join(dir, 'postroom.db'), 'in use');
    }
    try {
      // Act
      const refused = await startDemo({ dir: live }).catch((error: unknown) => error);
      const started = await startDemo({ dir: gone }).catch((error: unknown) => error);
      // Assess
      expect(refused).toBeInstanceOf(DemoRunningError);
      expect((refused as Error).message).toBe(
        `a demo is already running in ${live} (pid ${holder.pid}): stop it (Ctrl-C) or choose another --dir`,
      );
      expect(await readFile(join(live, 'postroom.db'), 'utf8')).toBe('in use');
      expect(started).not.toBeInstanceOf(Error);
      await (started as DemoEnvironment).stop();
    } finally {
      holder.kill();
      await rm(live, { recursive: true, force: true });
      await rm(gone, { recursive: true, force: true });
    }
  });

  it('says how to install Dovecot when it is missing', async () => {
    // Act / Assess
    const attempt = startDemo({
      dir: join(tmpdir(), 'never-created'),
      dovecotCandidates: ['/nonexistent/dovecot'],
    });
    await expect(attempt).rejects.toBeInstanceOf(DemoUnavailableError);
    await expect(attempt).rejects.toThrow(/apt-get install dovecot-imapd/);
    expect(existsSync(join(tmpdir(), 'never-created'))).toBe(false);
  });
});

describe('npm start: run or demo', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'postroom-start-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const write = async (name: string, text: string) => {
    const file = join(work, name);
    await writeFile(file, text);
    return file;
  };
  const account = (host: string, extra = '') =>
    `accounts:\n  - id: a\n    host: ${host}\n    auth: { user: u, password: { env: P } }\n${extra}`;

  it('treats documentation hosts as placeholders and other hosts as real', () => {
    // Assess
    for (const host of [
      'imap.example.com',
      'example.org',
      'mail.work.example',
      'x.invalid',
      'IMAP.EXAMPLE.NET.',
    ])
      expect(isPlaceholderHost(host)).toBe(true);
    for (const host of ['imap.gmail.com', 'localhost', '127.0.0.1', 'mail.example-corp.com', 'dovecot.test'])
      expect(isPlaceholderHost(host)).toBe(false);
  });

  it('chooses the demo without a config, with placeholder hosts or an AWS store', async () => {
    // Prepare
    const placeholder = await write('placeholder.yaml', account('imap.example.com'));
    const aws = await write(
      'aws.yaml',
      `${account('imap.fastmail.com')}store: { kind: aws, bucket: bkt, queueUrl: "https://sqs.eu-west-1.amazonaws.com/1/q", table: tbl }\n`,
    );

    // Act / Assess
    expect(await chooseStartMode(join(work, 'missing.yaml'))).toMatchObject({ mode: 'demo' });
    expect((await chooseStartMode(placeholder)).reason).toMatch(/placeholder hosts \(imap\.example\.com\)/);
    expect(await chooseStartMode(aws)).toMatchObject({ mode: 'demo' });
  });

  it('starts nothing for an invalid config, and names its problems', async () => {
    // Prepare
    const invalid = await write('invalid.yaml', 'accounts: [{ id: Bad Id }]\n');

    // Act
    const choice = await chooseStartMode(invalid);

    // Assess
    expect(choice.mode).toBe('refuse');
    expect(choice.reason).toMatch(/invalid\.yaml is not valid, so nothing was started/);
    expect(choice.problems).toContainEqual(expect.stringMatching(/^accounts\[0\]\.id: /));
  });

  it('chooses postroom run when an account names a real host', async () => {
    // Prepare
    const real = await write('real.yaml', account('imap.fastmail.com'));

    // Act
    const choice = await chooseStartMode(real);

    // Assess
    expect(choice.mode).toBe('run');
    expect(choice.reason).toContain('a (imap.fastmail.com)');
  });
});

describe('the postroom command', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'postroom-demo-cli-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('`postroom demo --once --json` prints one JSON object and exits 0', async () => {
    // Act
    const { stdout } = await run(
      process.execPath,
      [join(REPO, 'bin/postroom.js'), 'demo', '--once', '--json', '--dir', join(work, 'cli')],
      { cwd: REPO, timeout: 120_000 },
    );

    // Assess (execFile rejects on a non-zero exit)
    const output = JSON.parse(stdout) as Record<string, unknown>;
    expect(output).toMatchObject({
      processed: seeded.length,
      failed: 0,
      actions: { move: 7, delete: 1 },
      events: subjectsOf('invoice').length + subjectsOf('alert').length + 1,
    });
    expect(output.messages).toHaveLength(seeded.length);
  });

  it('`npm start` with an invalid postroom.yaml exits 2 with its problems and starts no demo', async () => {
    // Prepare
    const cwd = join(work, 'start-invalid');
    await mkdir(cwd);
    await writeFile(join(cwd, 'postroom.yaml'), 'accounts: [{ id: Bad Id }]\n');

    // Act
    const failure = await run(process.execPath, [join(REPO, 'bin/start.js'), '--once', '--json'], {
      cwd,
      timeout: 60_000,
      env: { ...process.env, POSTROOM_CONFIG_FILE: '' },
    }).then(
      () => undefined,
      (error: { code?: number; stderr?: string; stdout?: string }) => error,
    );

    // Assess
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/postroom\.yaml is not valid, so nothing was started/);
    expect(failure?.stderr).toMatch(/ {2}accounts\[0\]\.id: /);
    expect(failure?.stdout).toBe('');
    expect(existsSync(join(cwd, '.postroom/demo'))).toBe(false);
  });

  it('`npm start` without a postroom.yaml says it chose the demo and runs it', async () => {
    // Prepare: an empty working directory, so there is no postroom.yaml
    const cwd = join(work, 'start');
    await mkdir(cwd);

    // Act
    const { stdout, stderr } = await run(process.execPath, [join(REPO, 'bin/start.js'), '--once', '--json'], {
      cwd,
      timeout: 120_000,
      env: { ...process.env, POSTROOM_CONFIG_FILE: '' },
    });

    // Assess
    expect(stderr).toContain('no postroom.yaml: starting the demo');
    expect(JSON.parse(stdout)).toMatchObject({ processed: seeded.length, failed: 0 });
    expect(existsSync(join(cwd, '.postroom/demo/events.jsonl'))).toBe(true);
  });
});
