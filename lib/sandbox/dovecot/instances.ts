/**
 * Starting and stopping one Dovecot master: free ports, the daemonizing start
 * (retried when a port was taken meanwhile), its pid, and SIGTERM/SIGKILL on stop.
 */
import { spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chownTree, type RunAccount } from './account.ts';
import { HOST, renderConfig, renderOAuth2Args } from './config.ts';
import { readGreeting } from './imap-probe.ts';
import { DovecotStartError } from './start-error.ts';

export interface Instance {
  name: string;
  configFile: string;
  pidFile: string;
  ports: { imap: number; imaps?: number };
  pid: number;
}

export async function startInstance(
  binary: string,
  spec: {
    dir: string;
    name: string;
    account: RunAccount;
    tls: boolean;
    capability?: string;
    oauth2?: { introspectionUrl: string };
  },
): Promise<Instance> {
  const run = join(spec.dir, spec.name);
  mkdirSync(join(run, 'run'), { recursive: true });
  mkdirSync(join(run, 'state'), { recursive: true });
  chownTree(run, spec.account);
  const configFile = join(run, 'dovecot.conf');
  const pidFile = join(run, 'run', 'master.pid');
  let lastError = '';
  // Free ports are found by binding port 0 and releasing it, so another process can
  // take one in between: Dovecot then fails to bind and we try again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const [imap, imaps] = await freePorts(2);
    const ports = spec.tls ? { imap: imap!, imaps: imaps! } : { imap: imap! };
    writeFileSync(
      configFile,
      renderConfig(spec.dir, spec.name, spec.account, ports, spec.tls, spec.capability, spec.oauth2),
    );
    if (spec.oauth2) {
      const oauthFile = join(run, 'dovecot-oauth2.conf.ext');
      writeFileSync(oauthFile, renderOAuth2Args(spec.oauth2.introspectionUrl));
      if (spec.account.root) chownSync(oauthFile, spec.account.uid, spec.account.gid);
    }
    if (spec.account.root) chownSync(configFile, spec.account.uid, spec.account.gid);
    const [command, args] = spec.account.root
      ? ['runuser', ['-u', spec.account.name, '--', binary, '-c', configFile]]
      : [binary, ['-c', configFile]];
    // Dovecot binds its listeners before it daemonizes, so exit status 0 means the
    // ports accept connections; the forked master writes its pid file just after.
    rmSync(pidFile, { force: true });
    const result = await runCommand(command, args, join(run, 'startup.err'));
    if (result.code === 0) {
      const instance = { name: spec.name, configFile, pidFile, ports, pid: await readPid(pidFile) };
      // Ready means a greeting: by then the config and login processes are up. (A
      // master stopped before that takes ~6 s to shut down instead of ~1 s.)
      await readGreeting(HOST, ports.imap);
      return instance;
    }
    lastError = result.stderr.trim() || `exit code ${result.code}`;
    if (!/bind|address already in use/i.test(lastError)) break;
  }
  throw new DovecotStartError(`dovecot (${spec.name}) failed to start: ${lastError}`);
}

async function readPid(pidFile: string): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) return pid;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) throw new DovecotStartError(`dovecot wrote no pid file at ${pidFile}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Runs `command` with stderr in a file: the daemonized master inherits stderr and
 * keeps it open for its whole life, so a pipe would never close (and a pipe whose
 * reader went away slows Dovecot's shutdown down to seconds).
 */
async function runCommand(
  command: string,
  args: string[],
  errFile: string,
): Promise<{ code: number; stderr: string }> {
  const fd = openSync(errFile, 'w');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['ignore', 'ignore', fd] });
      child.on('error', reject);
      child.on('exit', (exitCode) => resolve(exitCode ?? -1));
    });
    return { code, stderr: readFileSync(errFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, HOST, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function signalMaster(instance: Instance, signal: NodeJS.Signals): boolean {
  try {
    process.kill(instance.pid, signal);
    return true;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    // An exited master stays a zombie until init reaps it, which some inits do
    // only every few seconds: a zombie counts as gone.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    // No procfs entry: gone (or not Linux, then ask the kernel).
    if (existsSync('/proc/self/stat')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function stopInstances(instances: Instance[]): Promise<void> {
  for (const instance of instances) signalMaster(instance, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (instances.some((instance) => isAlive(instance.pid))) {
    if (Date.now() > deadline) {
      // A master that ignores SIGTERM this long is stuck; its children exit when it is gone.
      for (const instance of instances) signalMaster(instance, 'SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** For `process.on('exit')`, where nothing asynchronous runs any more. */
export function stopInstancesSync(instances: Instance[]): void {
  for (const instance of instances) signalMaster(instance, 'SIGTERM');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 3_000;
  while (instances.some((instance) => isAlive(instance.pid)) && Date.now() < deadline)
    Atomics.wait(pause, 0, 0, 10);
  for (const instance of instances) signalMaster(instance, 'SIGKILL');
}
