/**
 * Runs the real `postroom poll --json` in a child process against a hostile
 * server, and reads back what it left: exit, output, wall time, peak RSS, the
 * checkpoint, the stored blobs and the queued messages. Shared by
 * `test/integration/imap-hostile.test.ts` and `bench/hostile.ts`.
 *
 * The child's peak RSS comes from the `report-rss.cjs` preload (its own
 * `maxRSS` at exit). The runner also samples `/proc/<pid>/status` while the
 * child runs, for two reasons: a child that has to be killed still gets a
 * figure, and a child that grows past `rssCapMb` is killed at once, since this
 * machine is shared and the code under test has reached 1.9 GB before.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ImapLimits } from '#lib/config/schema.ts';
import { rawBlobKey } from '#lib/core/keys.ts';
import { REPO_ROOT, spawnPostroom } from './cli.ts';
import {
  HOSTILE_PASSWORD,
  type HostileScenario,
  type HostileServer,
  startHostileServer,
} from './hostile-imap-server.ts';

const RSS_PRELOAD = join(REPO_ROOT, 'test', 'fixtures', 'report-rss.cjs');

/** The account id every hostile config uses. */
export const HOSTILE_ACCOUNT = 'hostile';

/** A temp folder with the config file and the local store of one scenario. */
export interface HostileWorkspace {
  dir: string;
  configFile: string;
  storeDir: string;
  /** Removes the temp folder. */
  remove(): void;
}

/** Writes the config for one account on `port` with these limits, in a fresh temp folder. */
export function hostileWorkspace(port: number, limits: ImapLimits): HostileWorkspace {
  const dir = mkdtempSync(join(tmpdir(), 'postroom-hostile-'));
  const storeDir = join(dir, 'store');
  const configFile = join(dir, 'postroom.json');
  const config = {
    store: { kind: 'local', dir: storeDir },
    accounts: [
      {
        id: HOSTILE_ACCOUNT,
        host: '127.0.0.1',
        port,
        tls: false,
        auth: { user: 'u', password: { env: 'HOSTILE_PASSWORD' } },
        mailboxes: ['INBOX'],
        start: 'all',
        limits,
      },
    ],
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { dir, configFile, storeDir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** How one `postroom poll` ended. */
export interface PollRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  wallMs: number;
  /** When the child exited (epoch ms). */
  exitedAt: number;
  /** Peak RSS in KiB: the preload's figure, else the highest sampled. */
  peakRssKb: number | undefined;
  /** True when the preload reported (the child exited by itself). */
  rssFromPreload: boolean;
  /** Why the runner killed the child, if it did. */
  killed?: 'rss' | 'time';
  /** `--json` output, when stdout held one JSON document. */
  json: PollJson | undefined;
  /** The `error: ...` lines on stderr (the CLI's failures). */
  errorLines: string[];
}

/** `postroom poll --json` output. */
export interface PollJson {
  fetched: number;
  mailboxes: { account: string; mailbox: string; fetched: number; lastUid?: number; outcome: string }[];
  errors?: string[];
}

export interface PollRunOptions {
  /** Kill the child after this long. */
  timeoutMs: number;
  /** Kill the child once its RSS passes this. @default 600 */
  rssCapMb?: number;
  /** Added to the command line. */
  args?: string[];
}

/** Runs `postroom poll --json --config <file>` to the end (or until killed). */
export async function runPoll(workspace: HostileWorkspace, options: PollRunOptions): Promise<PollRun> {
  const report = join(workspace.dir, `rss-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const started = Date.now();
  const cli = spawnPostroom(['poll', '--json', ...(options.args ?? []), '--config', workspace.configFile], {
    env: {
      HOSTILE_PASSWORD,
      POSTROOM_RSS_REPORT: report,
      NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require=${RSS_PRELOAD}`].filter(Boolean).join(' '),
    },
  });
  let sampledKb = 0;
  let killed: PollRun['killed'];
  const capKb = (options.rssCapMb ?? 600) * 1024;
  const sampler = setInterval(() => {
    const status = procStatus(cli.child.pid);
    if (status === undefined) return;
    sampledKb = Math.max(sampledKb, status.hwmKb, status.rssKb);
    if (status.rssKb > capKb && !killed) {
      killed = 'rss';
      cli.signal('SIGKILL');
    }
  }, 50);
  const timer = setTimeout(() => {
    killed ??= 'time';
    cli.signal('SIGKILL');
  }, options.timeoutMs);
  const result = await cli.exited.finally(() => {
    clearInterval(sampler);
    clearTimeout(timer);
  });
  const exitedAt = Date.now();
  const reported = readRssReport(report);
  return {
    code: result.code,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
    wallMs: exitedAt - started,
    exitedAt,
    peakRssKb: reported ?? (sampledKb > 0 ? sampledKb : undefined),
    rssFromPreload: reported !== undefined,
    ...(killed ? { killed } : {}),
    json: parseJson(result.stdout),
    errorLines: result.stderr.split('\n').filter((line) => /^error: /.test(line)),
  };
}

function procStatus(pid: number | undefined): { rssKb: number; hwmKb: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    // Gone already, or not Linux: the preload's figure is the one that counts.
    return undefined;
  }
}

function readRssReport(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const value = (JSON.parse(readFileSync(file, 'utf8')) as { maxRssKb?: unknown }).maxRssKb;
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

function parseJson(stdout: string): PollJson | undefined {
  try {
    return JSON.parse(stdout) as PollJson;
  } catch {
    return undefined;
  }
}

/** The stored checkpoint of hostile/INBOX, or undefined (none, or no database yet). */
export function readCheckpoint(
  storeDir: string,
): { uidValidity: number; lastUid: number; uidNext: number } | undefined {
  const file = join(storeDir, 'postroom.db');
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const hasTable = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'")
      .get();
    if (!hasTable) return undefined;
    const row = db
      .prepare<[string, string], { uid_validity: number; last_uid: number; uid_next: number }>(
        'SELECT uid_validity, last_uid, uid_next FROM checkpoints WHERE account = ? AND mailbox = ?',
      )
      .get(HOSTILE_ACCOUNT, 'INBOX');
    return row ? { uidValidity: row.uid_validity, lastUid: row.last_uid, uidNext: row.uid_next } : undefined;
  } finally {
    db.close();
  }
}

/** The queued messages' bodies (`queue_messages.body`, JSON), in queue order. */
export function readQueued(storeDir: string): { uid: number; internalDate: string; size: number }[] {
  const file = join(storeDir, 'postroom.db');
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const hasTable = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue_messages'")
      .get();
    if (!hasTable) return [];
    return db
      .prepare<[], { body: string }>('SELECT body FROM queue_messages ORDER BY id')
      .all()
      .map((row) => JSON.parse(row.body) as { uid: number; internalDate: string; size: number });
  } finally {
    db.close();
  }
}

/** The stored raw message of one UID of hostile/INBOX, or undefined. */
export function readBlob(storeDir: string, uidValidity: number, uid: number): Buffer | undefined {
  const file = join(storeDir, rawBlobKey({ account: HOSTILE_ACCOUNT, mailbox: 'INBOX', uidValidity, uid }));
  return existsSync(file) ? readFileSync(file) : undefined;
}

/** What a scenario's run leaves for its assertions. */
export interface ScenarioRun {
  /** One entry per poll the scenario asked for. */
  polls: PollRun[];
  /** The server, still holding what it received (closed already). */
  server: HostileServer;
  storeDir: string;
  /** From the server's first hostile act to the first poll's exit, when there was one. */
  sinceHostileMs: number | undefined;
}

export interface ScenarioRunOptions {
  /** The account's limits; the scenario's own `limits` go over them. */
  limits: ImapLimits;
  /** Kill a poll after this long (a hang must not stop the run). */
  timeoutMs: number;
  /** @default 600 */
  rssCapMb?: number;
}

/**
 * Runs one scenario: a fresh server and store, then its polls one after
 * another. The caller removes the store (`remove()`) once it has looked.
 */
export async function runScenario(
  scenario: HostileScenario,
  options: ScenarioRunOptions,
): Promise<ScenarioRun & { remove(): void }> {
  const server = await startHostileServer(scenario.server());
  const workspace = hostileWorkspace(server.port, { ...options.limits, ...scenario.limits });
  const polls: PollRun[] = [];
  try {
    for (let index = 0; index < (scenario.polls ?? 1); index++) {
      scenario.beforePoll?.(server.mailbox, index);
      polls.push(
        await runPoll(workspace, {
          timeoutMs: options.timeoutMs,
          ...(options.rssCapMb ? { rssCapMb: options.rssCapMb } : {}),
          ...(scenario.pollArgs ? { args: scenario.pollArgs } : {}),
        }),
      );
    }
  } finally {
    await server.close();
  }
  const hostileAt = server.hostileAt();
  return {
    polls,
    server,
    storeDir: workspace.storeDir,
    sinceHostileMs: hostileAt === undefined ? undefined : polls[0]!.exitedAt - hostileAt,
    remove: workspace.remove,
  };
}
