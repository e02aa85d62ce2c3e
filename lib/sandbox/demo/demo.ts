/**
 * `postroom demo`: a private Dovecot (the project's own `startPrivateDovecot`),
 * a demo mailbox seeded over IMAP APPEND, and the real pipeline — poll, then
 * process with the example rules — against it, over verified TLS. One pass
 * (`runDemoOnce`), or a pass followed by the `postroom run` loop
 * (`watchDemo`: schedule plus IDLE) and a drop folder for more mail.
 *
 * Everything lives in the store directory (`.postroom/demo` by default),
 * which is wiped at start: `postroom.yaml` (the config that ran),
 * `events.jsonl`, the blobs and the SQLite state, `sample.eml` and `drop/`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ImapFlow } from 'imapflow';
import { openDatabase } from '../../adapters/local/sqlite.ts';
import { openRuntime, type Runtime } from '../../composition/open-runtime.ts';
import type { AccountConfig, PostroomConfig } from '../../config/schema.ts';
import { drainQueue } from '../../core/drain.ts';
import { pollAccount } from '../../core/poll.ts';
import type { ItemResult, ProcessResult } from '../../core/process.ts';
import { Runner } from '../../core/runner.ts';
import { msUntilNext } from '../../core/schedule.ts';
import { PostroomError } from '../../errors.ts';
import type { Logger } from '../../ports.ts';
import { silentLogger } from '../../ports.ts';
import { type PrivateDovecot, startPrivateDovecot } from '../dovecot/private-dovecot.ts';
import { buildDemoConfig, DEFAULT_DEMO_DIR, DEMO_PASSWORD_ENV, DEMO_USER } from './config.ts';
import { type DropFolder, watchDropFolder } from './drop-folder.ts';
import { demoMessages, sampleDropMessage } from './messages.ts';

/** Marks a directory as the demo's own, so that wiping it can never hit a user's folder. */
const MARKER = '.postroom-demo';
/** Who runs the demo in the directory: `<pid> <host>`. */
const OWNER_FILE = '.postroom-demo-owner';

/** Dovecot is not installed; the message says how to install it. */
export class DemoUnavailableError extends PostroomError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DEMO_DOVECOT_MISSING', message, options);
    this.name = 'DemoUnavailableError';
  }
}

/** Another demo on this machine is using the directory: wiping it would pull its database from under it. */
export class DemoRunningError extends PostroomError {
  constructor(dir: string, pid: number) {
    super(
      'DEMO_RUNNING',
      `a demo is already running in ${dir} (pid ${pid}): stop it (Ctrl-C) or choose another --dir`,
      { context: { dir, pid } },
    );
    this.name = 'DemoRunningError';
  }
}

/** The pid of a live demo process on this host that owns `dir`, if any. */
async function runningDemo(dir: string): Promise<number | undefined> {
  const owner = await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => '');
  const [pidText, host] = owner.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || host !== hostname()) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive, but another user's; ESRCH: gone.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** The store directory holds something that is not a demo: it is not wiped. */
export class DemoDirectoryError extends PostroomError {
  constructor(dir: string) {
    super(
      'DEMO_DIR_NOT_EMPTY',
      `${dir} exists and is not a demo directory (no ${MARKER} file): refusing to wipe it; choose another --dir`,
      { context: { dir } },
    );
    this.name = 'DemoDirectoryError';
  }
}

export interface DemoOptions {
  /** The store directory, wiped at start. @default .postroom/demo */
  dir?: string;
  /** Logs of the pipeline (the CLI passes its Terminal). @default silent */
  logger?: Logger;
  /** Told every secret value, for output redaction. */
  onSecret?: (value: string) => void;
  /** Receives the IMAP dialog (`--trace`). */
  trace?: { say(line: string): void };
  /** Where to look for Dovecot. @default $POSTROOM_DOVECOT, /usr/sbin/dovecot, /usr/local/sbin/dovecot */
  dovecotCandidates?: string[];
}

/** What happened to one message in a pass. */
export interface DemoMessageReport {
  uid: number;
  subject: string;
  /** Names of the rules that matched. */
  rules: string[];
  /** Actions on the server and outward, e.g. `move Finance/Invoices`, `emit invoice.received`. */
  actions: string[];
  /** The detail-types of the events emitted for it. */
  events: string[];
  status: 'done' | 'failed';
  error?: string;
}

/** The outcome of a pass (what `--once --json` prints). */
export interface DemoReport {
  fetched: number;
  processed: number;
  failed: number;
  /** Completed actions by kind. */
  actions: Record<string, number>;
  /** Events emitted (lines added to `events.jsonl`). */
  events: number;
  messages: DemoMessageReport[];
}

/** A running demo: the Dovecot, the config, the runtime over the store directory. */
export interface DemoEnvironment {
  dovecot: PrivateDovecot;
  config: PostroomConfig;
  account: AccountConfig;
  runtime: Runtime;
  /** Absolute store directory. */
  dir: string;
  configFile: string;
  eventsFile: string;
  dropDir: string;
  sampleFile: string;
  /** A curl netrc with the demo credentials (mode 0600), so no command line carries the password. */
  netrcFile: string;
  /** How many messages were seeded. */
  seeded: number;
  /** APPENDs a raw message to INBOX over the same verified TLS. */
  append(raw: Buffer): Promise<void>;
  /** Stops Dovecot and closes the store. Idempotent. */
  stop(): Promise<void>;
}

/** True when a Dovecot binary is where `startPrivateDovecot` looks for it. */
export function dovecotInstalled(candidates?: string[]): boolean {
  const list = candidates ?? [process.env.POSTROOM_DOVECOT, '/usr/sbin/dovecot', '/usr/local/sbin/dovecot'];
  return list.some((candidate) => candidate !== undefined && candidate !== '' && existsSync(candidate));
}

/**
 * Wipes the store directory, starts Dovecot with a fresh random password,
 * writes the config and seeds the demo mailbox.
 */
export async function startDemo(options: DemoOptions = {}): Promise<DemoEnvironment> {
  if (!dovecotInstalled(options.dovecotCandidates)) {
    throw new DemoUnavailableError(
      'postroom demo needs Dovecot: install it with `sudo apt-get install dovecot-imapd` (or set POSTROOM_DOVECOT to the dovecot binary)',
    );
  }
  const logger = options.logger ?? silentLogger;
  const dir = resolve(options.dir ?? DEFAULT_DEMO_DIR);
  await wipeDemoDir(dir);

  const password = randomBytes(18).toString('base64url');
  // The config refers to the password by reference only; the value lives in this process.
  process.env[DEMO_PASSWORD_ENV] = password;
  options.onSecret?.(password);
  const dovecot = await startPrivateDovecot({ users: [{ user: DEMO_USER, password }] });
  let dovecotStopped = false;
  const stopDovecot = async () => {
    if (dovecotStopped) return;
    dovecotStopped = true;
    await dovecot.stop();
  };

  try {
    const { config, yaml } = buildDemoConfig({
      host: dovecot.host,
      port: dovecot.ports.full.imaps,
      caFile: dovecot.caFile,
      storeDir: dir,
    });
    const account = config.accounts[0]!;
    const configFile = join(dir, 'postroom.yaml');
    const sampleFile = join(dir, 'sample.eml');
    const netrcFile = join(dir, 'netrc');
    const dropDir = join(dir, 'drop');
    await writeFile(configFile, yaml);
    await writeFile(sampleFile, sampleDropMessage());
    await writeFile(netrcFile, `machine ${dovecot.host} login ${DEMO_USER} password ${password}\n`, {
      mode: 0o600,
    });
    await mkdir(dropDir, { recursive: true });

    const ca = await readFile(dovecot.caFile);
    const connect = async () => {
      const client = new ImapFlow({
        host: dovecot.host,
        port: dovecot.ports.full.imaps,
        secure: true,
        tls: { ca, rejectUnauthorized: true },
        auth: { user: DEMO_USER, pass: password },
        logger: false,
        disableAutoIdle: true,
      });
      await client.connect();
      return client;
    };
    const messages = demoMessages();
    const client = await connect();
    try {
      for (const message of messages) await client.append('INBOX', message.raw, [], message.date);
    } finally {
      await client.logout().catch(() => client.close());
    }
    logger.info('demo mailbox seeded', { messages: messages.length });

    const runtime = await openRuntime(config, {
      logger,
      ...(options.onSecret ? { onSecret: options.onSecret } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    });
    const eventsFile = runtime.stores.eventsFile ?? join(dir, 'events.jsonl');
    let stopping: Promise<void> | undefined;
    return {
      dovecot,
      config,
      account,
      runtime,
      dir,
      configFile,
      eventsFile,
      dropDir,
      sampleFile,
      netrcFile,
      seeded: messages.length,
      async append(raw) {
        const session = await connect();
        try {
          await session.append('INBOX', raw, []);
        } finally {
          await session.logout().catch(() => session.close());
        }
      },
      stop() {
        stopping ??= (async () => {
          await runtime.close();
          // The SQLite handle is cached per path for the process: close it, so a later
          // demo in the same process (tests) does not write into the wiped file.
          const db = openDatabase(
            join(config.store.kind === 'local' ? config.store.dir : dir, 'postroom.db'),
          );
          if (db.open) db.close();
          await stopDovecot();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await stopDovecot().catch(() => {});
    throw error;
  }
}

/** One pass: poll the demo account, then drain the queue through the rules. */
export async function runDemoPass(demo: DemoEnvironment): Promise<DemoReport> {
  const poll = await pollAccount(demo.runtime.pollDependencies(), {
    account: demo.account,
    ingest: demo.config.ingest,
  });
  const failures = poll.mailboxes.filter((m) => m.error);
  if (failures.length > 0) {
    throw new PostroomError(
      'DEMO_POLL_FAILED',
      `demo poll failed: ${failures.map((m) => m.error!.message).join('; ')}`,
    );
  }
  return { fetched: poll.fetched, ...(await processQueue(demo.runtime)) };
}

/** Drains the queue and reports per message; used by a pass and by the running demo. */
async function processQueue(
  runtime: Runtime,
  onBatch?: (report: Omit<DemoReport, 'fetched'>) => void,
): Promise<Omit<DemoReport, 'fetched'>> {
  const total: Omit<DemoReport, 'fetched'> = {
    processed: 0,
    failed: 0,
    actions: {},
    events: 0,
    messages: [],
  };
  await drainQueue(runtime.drainDependencies(), {
    onBatch: (result) => {
      const batch = summarise(result);
      total.processed += batch.processed;
      total.failed += batch.failed;
      total.events += batch.events;
      total.messages.push(...batch.messages);
      for (const [kind, n] of Object.entries(batch.actions))
        total.actions[kind] = (total.actions[kind] ?? 0) + n;
      onBatch?.(batch);
    },
  });
  total.messages.sort((a, b) => a.uid - b.uid);
  return total;
}

function summarise(result: ProcessResult): Omit<DemoReport, 'fetched'> {
  const messages = result.items.map(messageReport);
  return {
    processed: result.processed,
    failed: result.failed,
    actions: { ...result.actions },
    events: messages.reduce((sum, m) => sum + m.events.length, 0),
    messages,
  };
}

function messageReport(item: ItemResult): DemoMessageReport {
  const done = (status: string) => status === 'done' || status === 'left-deleted';
  return {
    uid: item.uid,
    subject: item.subject ?? '',
    rules: item.matched,
    actions: item.actions.map(
      (a) => `${a.kind}${a.detail ? ` ${a.detail}` : ''}${done(a.status) ? '' : ` (${a.status})`}`,
    ),
    events: item.actions.filter((a) => a.kind === 'emit' && done(a.status)).map((a) => a.detail ?? ''),
    status: item.status,
    ...(item.error ? { error: item.error.message } : {}),
  };
}

export interface DemoOnceResult {
  report: DemoReport;
  /** Stopped already, unless `keepServer` was set: then the caller stops it. */
  demo: DemoEnvironment;
}

/**
 * `postroom demo --once`: start, seed, one pass, stop. With `keepServer`,
 * Dovecot keeps running so the caller (a test) can look at the mailbox.
 */
export async function runDemoOnce(
  options: DemoOptions & { keepServer?: boolean } = {},
): Promise<DemoOnceResult> {
  const demo = await startDemo(options);
  try {
    const report = await runDemoPass(demo);
    return { report, demo };
  } finally {
    if (!options.keepServer) await demo.stop();
  }
}

export interface DemoWatchOptions {
  logger?: Logger;
  /** Told after every drained batch that processed mail. */
  onProcessed?: (report: Omit<DemoReport, 'fetched'>) => void;
  /** Told when a dropped file was APPENDed. */
  onDropped?: (name: string, kept: string) => void;
}

/** The running part of the demo: the `postroom run` loop plus the drop folder. */
export interface DemoWatch {
  runner: Runner;
  dropFolder: DropFolder;
  /** Stops the loop and the drop folder (not Dovecot: `demo.stop()` does that). */
  stop(): Promise<void>;
}

/**
 * Keeps the demo running: the same Runner as `postroom run` (a poll on the
 * schedule, IMAP IDLE on INBOX, processing after each poll that brought mail),
 * and the drop folder, whose files are APPENDed to INBOX and picked up at once.
 */
export async function watchDemo(demo: DemoEnvironment, options: DemoWatchOptions = {}): Promise<DemoWatch> {
  const { runtime, config } = demo;
  const runner = new Runner(
    {
      accounts: config.accounts,
      ...(options.logger ? { logger: options.logger } : {}),
      poll: (account, mailboxes, signal) =>
        pollAccount(runtime.pollDependencies(), {
          account,
          ingest: config.ingest,
          signal,
          ...(mailboxes ? { mailboxes } : {}),
        }),
      processQueue: () =>
        processQueue(runtime, (batch) => {
          if (batch.messages.length > 0) options.onProcessed?.(batch);
        }),
      watch: (account, mailbox, handlers) => runtime.watchMailbox(account, mailbox, handlers),
    },
    msUntilNext,
  );
  await runner.start();
  const dropFolder = await watchDropFolder(
    demo.dropDir,
    async (raw) => {
      await demo.append(raw);
      // IDLE would notice too; asking directly does not depend on its timing.
      runner.enqueue({ kind: 'poll', account: demo.account.id, reason: 'idle' });
    },
    {
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.onDropped ? { onDelivered: options.onDropped } : {}),
    },
  );
  return {
    runner,
    dropFolder,
    async stop() {
      await dropFolder.close();
      await runner.stop();
    },
  };
}

/** Removes the demo directory if it is the demo's own (or empty), then recreates it with the marker. */
async function wipeDemoDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const entries = await readdir(dir);
    if (entries.length > 0 && !entries.includes(MARKER)) throw new DemoDirectoryError(dir);
    const holder = await runningDemo(dir);
    if (holder !== undefined) throw new DemoRunningError(dir, holder);
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, MARKER), 'Created by `postroom demo`; wiped at each demo start.\n');
  await writeFile(join(dir, OWNER_FILE), `${process.pid} ${hostname()}\n`);
  await chmod(dir, 0o700);
}
