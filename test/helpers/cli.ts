/**
 * The `postroom` command as a user runs it: `node <its heap flags>
 * bin/postroom.js ...` (as `npm run postroom` does) in a child process, with
 * its own environment, output collected. Two shapes: a command that runs to
 * the end (`runPostroom`), and a long-running one (`spawnPostroom`, for
 * `postroom run`) that a test watches, signals and waits for. Every spawned
 * process is remembered so `killAllPostroom()` (in an `afterEach`) leaves no
 * orphan behind when a test fails half-way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI_HEAP_FLAGS } from '#lib/cli/heap-flags.ts';

/** The repository root: the child runs there, as `npm run postroom` would. */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(REPO_ROOT, 'bin', 'postroom.js');

/** How a finished command ended. */
export interface CliResult {
  /** The exit code; null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /** Added to the parent's environment (e.g. the password variable the config names). */
  env?: Record<string, string>;
}

/** A running `postroom` process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<CliResult>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /**
   * Resolves once stderr (from `from` characters on) matches `pattern`; rejects
   * after `timeoutMs` or when the process exits first, quoting the output.
   */
  waitForStderr(pattern: RegExp, timeoutMs: number, from?: number): Promise<void>;
  /** Sends a signal (no-op once exited). */
  signal(name: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();

/**
 * Starts `postroom <args>` and returns at once. Colour is off (`NO_COLOR`) so
 * output can be matched as text.
 */
export function spawnPostroom(args: string[], options: SpawnOptions = {}): CliProcess {
  const child = spawn(process.execPath, [...CLI_HEAP_FLAGS, BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  let done = false;
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const listener of listeners) listener();
  });
  const exited = new Promise<CliResult>((resolvePromise, reject) => {
    child.once('error', reject);
    // 'close' (not 'exit') so the pipes are drained and the output complete.
    child.once('close', (code, signal) => {
      done = true;
      running.delete(child);
      for (const listener of listeners) listener();
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
  // Tests that never await `exited` must not see an unhandled rejection.
  exited.catch(() => undefined);

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    hasExited: () => done,
    signal(name) {
      if (!done) child.kill(name);
    },
    waitForStderr(pattern, timeoutMs, from = 0) {
      return new Promise<void>((resolvePromise, reject) => {
        const check = () => {
          if (pattern.test(stderr.slice(from))) {
            finish();
            resolvePromise();
          } else if (done) {
            finish();
            reject(new Error(`postroom exited before stderr matched ${pattern}:\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(`stderr did not match ${pattern} within ${timeoutMs} ms:\n${stderr.slice(-4000)}`),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `postroom <args>` to the end (killed after `timeoutMs`). */
export async function runPostroom(
  args: string[],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<CliResult> {
  const cli = spawnPostroom(args, options);
  const timer = setTimeout(() => cli.signal('SIGKILL'), options.timeoutMs ?? 60_000);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every `postroom` process a test started and left running. */
export async function killAllPostroom(): Promise<void> {
  const waits = [...running].map(
    (child) =>
      new Promise<void>((resolvePromise) => {
        child.once('close', () => resolvePromise());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}

/** A config file in a fresh temp folder, with the local store beside it. */
export interface ConfigFile {
  /** The temp folder. */
  dir: string;
  /** The config file (JSON). */
  file: string;
  /** `store.dir`: the blobs, `postroom.db` and `events.jsonl`. */
  storeDir: string;
  /** `<storeDir>/events.jsonl`. */
  eventsFile: string;
}

/**
 * Writes `config` as JSON with `store: { kind: local }` in a fresh temp folder
 * (unless the config names its own store).
 */
export function writeConfigFile(config: Record<string, unknown>, prefix = 'postroom-cli-'): ConfigFile {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const storeDir = join(dir, 'store');
  const file = join(dir, 'postroom.json');
  writeFileSync(file, JSON.stringify({ store: { kind: 'local', dir: storeDir }, ...config }, null, 2));
  return { dir, file, storeDir, eventsFile: join(storeDir, 'events.jsonl') };
}

/** One line of `events.jsonl`. */
export interface WrittenEvent {
  time: string;
  source: string;
  'detail-type': string;
  detail: Record<string, unknown> & { uid: number; messageId?: string; rule: string };
}

/** The events written so far (none when the file does not exist yet). */
export function readEventsFile(file: string): WrittenEvent[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  // The last piece is '' or a line still being written (no newline yet): leave it for the next read.
  lines.pop();
  return lines.filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as WrittenEvent);
}
