/**
 * A private Dovecot for tests, the benchmark and `postroom demo`: its own config,
 * run and state folders in one directory, listeners on free 127.0.0.1 ports,
 * nothing of the system service touched.
 *
 * Dovecot refuses mail access as uid 0, so as root every process (master
 * included) runs as an unprivileged system user (`postroom-dovecot`, created on
 * first use); otherwise everything runs as the current user.
 *
 * Capability variants for fallback tests are separate Dovecot instances that
 * share the users folder and the mail root, so they see the same users and the
 * same mail. Each differs only in `imap_capability`, which replaces the
 * capability list shown after login (Dovecot still executes e.g. MOVE when it is
 * not advertised: the variants test that clients *detect* a missing extension).
 *
 * With `oauth2`, one more instance (`oauth2`) also checks bearer tokens
 * (AUTHENTICATE XOAUTH2 and OAUTHBEARER) with an `oauth2` passdb that asks an
 * introspection endpoint (RFC 7662) whether a token is active and whose it is;
 * passwords work there too.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** The listeners of one instance. */
export interface PortPair {
  /** Plain IMAP (STARTTLS offered). */
  imap: number;
  /** IMAP over implicit TLS. */
  imaps: number;
}

/** The capability variants, each its own pair of ports over the same users and mail. */
export interface DovecotPorts {
  /** Dovecot's own capability list. */
  full: PortPair;
  /** No MOVE (RFC 6851) after login. */
  noMove?: PortPair;
  /** No UIDPLUS (RFC 4315) after login. */
  noUidplus?: PortPair;
  /** No CONDSTORE, QRESYNC or IDLE after login. */
  noCondstoreIdle?: PortPair;
  /** Plain IMAP only: no STARTTLS offered, no implicit-TLS listener. */
  plainOnly?: { imap: number };
  /** Also XOAUTH2 and OAUTHBEARER, tokens checked by `oauth2.introspectionUrl`. */
  oauth2?: PortPair;
}

/** The capability variants `startPrivateDovecot({ variants: true })` starts besides `full`. */
export type DovecotVariant = Exclude<keyof DovecotPorts, 'full' | 'oauth2'>;

/** Everything another process needs to use a running instance (serialisable). */
export interface DovecotInfo {
  /** Always `127.0.0.1`. */
  host: string;
  ports: DovecotPorts;
  /** PEM of the self-signed certificate (CN and SAN `localhost`, SAN IP 127.0.0.1): pass as TLS `ca`. */
  caFile: string;
  /**
   * One passwd-file per user (`<usersDir>/<user>`), shared by every variant.
   * Per-user files rather than one: Dovecot re-reads a changed passwd-file at
   * most once a second, but opens a file it has not seen at once, so a user added
   * just now can log in just now.
   */
  usersDir: string;
  /** Where users' homes (and Maildirs) live. */
  mailRoot: string;
  /** uid/gid that owns the mail (written into each passwd line). */
  uid: number;
  gid: number;
  /** The instance directory (configs, logs, run state). */
  dir: string;
}

/** A running private Dovecot. */
export interface PrivateDovecot extends DovecotInfo {
  /** Adds a user to every variant at once; it can log in immediately. */
  addUser(user: string, password: string): void;
  /** SIGTERMs every master, waits for it to exit, then removes the directory (if it created it). */
  stop(): Promise<void>;
}

export interface StartPrivateDovecotOptions {
  /**
   * Directory for config, mail and state. An existing directory is reused (users
   * and mail kept) and left in place by `stop()`.
   * @default a fresh temporary directory, removed by `stop()`
   */
  dir?: string;
  /** Users to create before start. */
  users?: { user: string; password: string }[];
  /** Also start the `noMove`, `noUidplus`, `noCondstoreIdle` and `plainOnly` variants. @default false */
  variants?: boolean;
  /**
   * Also start the `oauth2` instance, whose oauth2 passdb posts `token=...` to
   * `introspectionUrl` and takes `{ active: true, username }` as a valid token.
   */
  oauth2?: { introspectionUrl: string };
  /** Unprivileged system user the instance runs as when started by root. @default postroom-dovecot */
  systemUser?: string;
}

/** Raised when Dovecot cannot be started; the message quotes Dovecot's own complaint. */
export class DovecotStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DovecotStartError';
  }
}

const HOST = '127.0.0.1';
const DEFAULT_SYSTEM_USER = 'postroom-dovecot';

/** Extensions each variant hides (QRESYNC implies CONDSTORE, RFC 7162, so it goes too). */
const HIDDEN: Record<Exclude<DovecotVariant, 'plainOnly'>, string[]> = {
  noMove: ['MOVE'],
  noUidplus: ['UIDPLUS'],
  noCondstoreIdle: ['CONDSTORE', 'QRESYNC', 'IDLE'],
};

/**
 * Adds a user to a running instance from any process that has its `DovecotInfo`
 * (e.g. a vitest worker). The user can log in immediately, on every variant.
 */
export function addDovecotUser(
  info: Pick<DovecotInfo, 'usersDir' | 'mailRoot' | 'uid' | 'gid'>,
  user: string,
  password: string,
): void {
  // passwd-file is colon-separated, one user per line; the name is also a file name.
  if (!/^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*$/.test(user))
    throw new Error(`invalid Dovecot test user name: ${JSON.stringify(user)}`);
  if (/[:\r\n\0]/.test(password) || password.length === 0)
    throw new Error(`invalid password for Dovecot test user ${user}`);
  const home = join(info.mailRoot, user);
  const file = join(info.usersDir, user);
  const temporary = `${file}.${process.pid}.tmp`;
  // Written whole and renamed, so Dovecot never reads half a line.
  writeFileSync(temporary, `${user}:{PLAIN}${password}:${info.uid}:${info.gid}::${home}::\n`, {
    mode: 0o600,
  });
  if (process.getuid?.() === 0) chownSync(temporary, info.uid, info.gid);
  renameSync(temporary, file);
}

/**
 * Starts a private Dovecot on free 127.0.0.1 ports (typically in well under 2 s).
 *
 * @example
 * const dovecot = await startPrivateDovecot({ users: [{ user: 'demo', password: 'demo' }] });
 * // connect to dovecot.host:dovecot.ports.full.imaps with ca = readFileSync(dovecot.caFile)
 * await dovecot.stop();
 */
export async function startPrivateDovecot(options: StartPrivateDovecotOptions = {}): Promise<PrivateDovecot> {
  const binary = findDovecot();
  const owned = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'postroom-dovecot-')));
  mkdirSync(dir, { recursive: true });
  // mkdtemp creates 0700; the unprivileged Dovecot user must traverse it.
  chmodSync(dir, 0o755);

  const account = runAccount(options.systemUser ?? DEFAULT_SYSTEM_USER);
  const mailRoot = join(dir, 'mail');
  const usersDir = join(dir, 'users');
  mkdirSync(mailRoot, { recursive: true });
  mkdirSync(usersDir, { recursive: true });
  ensureCertificate(dir);

  const info: DovecotInfo = {
    host: HOST,
    ports: { full: { imap: 0, imaps: 0 } },
    caFile: join(dir, 'cert.pem'),
    usersDir,
    mailRoot,
    uid: account.uid,
    gid: account.gid,
    dir,
  };
  for (const { user, password } of options.users ?? []) addDovecotUser(info, user, password);
  // An internal user to read the capability list the variants are derived from.
  const probe = { user: `postroom-probe-${process.pid}`, password: randomToken() };
  if (options.variants) addDovecotUser(info, probe.user, probe.password);
  chownTree(dir, account);

  const instances: Instance[] = [];
  const cleanup = () => {
    stopInstancesSync(instances);
    if (owned) removeQuietly(dir);
  };
  // A test run that dies must not leave Dovecot masters behind.
  process.once('exit', cleanup);

  try {
    const full = await startInstance(binary, { dir, name: 'full', account, tls: true });
    instances.push(full);
    info.ports.full = { imap: full.ports.imap, imaps: full.ports.imaps ?? 0 };
    if (options.variants) {
      const base = await readCapabilities(HOST, full.ports.imap, probe.user, probe.password);
      const variants = await Promise.all([
        ...Object.entries(HIDDEN).map(([name, hidden]) =>
          startInstance(binary, {
            dir,
            name,
            account,
            tls: true,
            capability: base.filter((capability) => !hidden.includes(capability.toUpperCase())).join(' '),
          }),
        ),
        startInstance(binary, { dir, name: 'plainOnly', account, tls: false }),
      ]);
      for (const instance of variants) {
        instances.push(instance);
        if (instance.name === 'plainOnly') info.ports.plainOnly = { imap: instance.ports.imap };
        else
          info.ports[instance.name as Exclude<DovecotVariant, 'plainOnly'>] = {
            imap: instance.ports.imap,
            imaps: instance.ports.imaps ?? 0,
          };
      }
    }
    if (options.oauth2) {
      const oauth2 = await startInstance(binary, {
        dir,
        name: 'oauth2',
        account,
        tls: true,
        oauth2: options.oauth2,
      });
      instances.push(oauth2);
      info.ports.oauth2 = { imap: oauth2.ports.imap, imaps: oauth2.ports.imaps ?? 0 };
    }
  } catch (error) {
    process.removeListener('exit', cleanup);
    await stopInstances(instances);
    if (owned) rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let stopped = false;
  return {
    ...info,
    addUser(user, password) {
      addDovecotUser(info, user, password);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', cleanup);
      await stopInstances(instances);
      if (owned) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

interface RunAccount {
  /** Set when root: the name to `runuser` to and write into the config. */
  name: string;
  uid: number;
  gid: number;
  root: boolean;
}

interface Instance {
  name: string;
  configFile: string;
  pidFile: string;
  ports: { imap: number; imaps?: number };
  pid: number;
}

function findDovecot(): string {
  const candidates = [process.env.POSTROOM_DOVECOT, '/usr/sbin/dovecot', '/usr/local/sbin/dovecot'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  throw new DovecotStartError(
    'dovecot not found (install dovecot-imapd, or set POSTROOM_DOVECOT to its path)',
  );
}

function runAccount(systemUser: string): RunAccount {
  const me = userInfo();
  if (me.uid !== 0) return { name: me.username, uid: me.uid, gid: me.gid, root: false };
  const lookup = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(
        execFileSync('id', ['-u', systemUser], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
      );
      const gid = Number(
        execFileSync('id', ['-g', systemUser], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
      );
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  let ids = lookup();
  if (!ids) {
    try {
      execFileSync(
        'useradd',
        [
          '--system',
          '--user-group',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          '/usr/sbin/nologin',
          systemUser,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    } catch (error) {
      // Another process may have created it meanwhile (useradd exits 9): look again.
      ids = lookup();
      if (!ids) throw new DovecotStartError(`cannot create system user ${systemUser}: ${String(error)}`);
    }
    ids ??= lookup();
  }
  if (!ids) throw new DovecotStartError(`system user ${systemUser} not found after useradd`);
  return { name: systemUser, ...ids, root: true };
}

function chownTree(path: string, account: RunAccount): void {
  if (!account.root) return;
  execFileSync('chown', ['-R', `${account.uid}:${account.gid}`, path]);
}

function ensureCertificate(dir: string): void {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (existsSync(cert) && existsSync(key)) return;
  // P-256 keys generate in milliseconds (RSA would dominate startup). CN and SAN
  // cover both ways tests connect: by name and by loopback address.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '3650',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  chmodSync(key, 0o600);
  chmodSync(cert, 0o644);
}

function renderConfig(
  dir: string,
  name: string,
  account: RunAccount,
  ports: { imap: number; imaps?: number },
  tls: boolean,
  capability: string | undefined,
  oauth2?: { introspectionUrl: string },
): string {
  const run = join(dir, name);
  // %u in the path: one file per user, opened on first lookup (see DovecotInfo.usersDir).
  const passwd = join(dir, 'users', '%u');
  return `# Generated by Postroom's private-dovecot.ts for the "${name}" variant.
base_dir = ${run}/run
state_dir = ${run}/state
log_path = ${run}/dovecot.log
instance_name = postroom-${name}
protocols = imap
listen = ${HOST}
ssl = ${tls ? 'yes' : 'no'}
${tls ? `ssl_cert = <${dir}/cert.pem\nssl_key = <${dir}/key.pem\n` : ''}disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2 ? ' xoauth2 oauthbearer' : ''}
# User names as given (the default, %Lu, would lower-case them and miss their passwd-file).
auth_username_format = %u
# Tests log in with wrong passwords on purpose; the default 2 s delay only slows them.
auth_failure_delay = 0
default_login_user = ${account.name}
default_internal_user = ${account.name}
default_internal_group = ${groupName(account)}
first_valid_uid = ${account.uid}
last_valid_uid = ${account.uid}
first_valid_gid = ${account.gid}
last_valid_gid = ${account.gid}
mail_location = maildir:~/Maildir
# Throwaway mail: durability is not under test, APPEND speed is.
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
${
  oauth2
    ? `# Bearer tokens first: this passdb answers only XOAUTH2 and OAUTHBEARER, passwords go on to the next.
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${run}/dovecot-oauth2.conf.ext
}
`
    : ''
}passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${passwd}
}
userdb {
  driver = passwd-file
  args = username_format=%u ${passwd}
}
service imap-login {
  chroot =
  # One long-lived login process instead of one per connection: faster for tests.
  service_count = 0
  inet_listener imap {
    address = ${HOST}
    port = ${ports.imap}
  }
  inet_listener imaps {
    address = ${HOST}
    port = ${ports.imaps ?? 0}
    ssl = yes
  }
}
service anvil {
  chroot =
  # No auth penalty: Dovecot would delay every login from an address that failed
  # before (up to 15 s), so one wrong-password test would slow all later ones.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth-worker {
  user = ${account.name}
}
protocol imap {
  # Many parallel sessions per user (benchmarks, concurrent consumers) from one address.
  mail_max_userip_connections = 1000
${capability === undefined ? '' : `  imap_capability = ${capability}\n`}}
`;
}

/** The oauth2 passdb's settings: ask the test's introspection endpoint (NOTES.md, "OAuth2 on Dovecot"). */
function renderOAuth2Args(introspectionUrl: string): string {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(introspectionUrl))
    throw new DovecotStartError(`refusing a non-loopback introspection URL: ${introspectionUrl}`);
  return `introspection_mode = post
introspection_url = ${introspectionUrl}
username_attribute = username
active_attribute = active
active_value = true
`;
}

function groupName(account: RunAccount): string {
  if (!account.root) {
    try {
      return execFileSync('id', ['-gn'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    } catch {
      return String(account.gid);
    }
  }
  return account.name;
}

async function startInstance(
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

async function stopInstances(instances: Instance[]): Promise<void> {
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
function stopInstancesSync(instances: Instance[]): void {
  for (const instance of instances) signalMaster(instance, 'SIGTERM');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 3_000;
  while (instances.some((instance) => isAlive(instance.pid)) && Date.now() < deadline)
    Atomics.wait(pause, 0, 0, 10);
  for (const instance of instances) signalMaster(instance, 'SIGKILL');
}

function removeQuietly(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // Best effort at exit: a leftover temp folder is not worth failing the run for.
  }
}

async function readGreeting(host: string, port: number): Promise<void> {
  const socket = new Socket();
  try {
    await new Promise<void>((resolve, reject) => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n')) {
          if (text.startsWith('* OK')) resolve();
          else reject(new DovecotStartError(`unexpected greeting: ${text.trim()}`));
        }
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new DovecotStartError('connection closed before the greeting')));
      socket.setTimeout(10_000, () => reject(new DovecotStartError('no greeting within 10 s')));
      socket.connect(port, host);
    });
  } finally {
    socket.destroy();
  }
}

/** Logs in over plain IMAP and returns the capability list Dovecot shows after login. */
async function readCapabilities(
  host: string,
  port: number,
  user: string,
  password: string,
): Promise<string[]> {
  const socket = new Socket();
  let buffer = '';
  const waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  const failure = new Promise<never>((_, reject) => {
    socket.once('error', reject);
    socket.once('close', () => reject(new DovecotStartError('capability probe: connection closed')));
  });
  failure.catch(() => undefined);
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let index = buffer.indexOf('\r\n');
    while (index >= 0) {
      const line = buffer.slice(0, index);
      buffer = buffer.slice(index + 2);
      const waiter = waiters[0];
      if (waiter?.test(line)) {
        waiters.shift();
        waiter.resolve(line);
      }
      index = buffer.indexOf('\r\n');
    }
  });
  const next = (test: (line: string) => boolean) =>
    Promise.race([new Promise<string>((resolve) => waiters.push({ test, resolve })), failure]);
  try {
    const greeting = next((line) => line.startsWith('* '));
    socket.connect(port, host);
    await greeting;
    const loggedIn = next((line) => line.startsWith('p1 '));
    socket.write(`p1 LOGIN "${user}" "${password}"\r\n`);
    const done = await loggedIn;
    let match = /\[CAPABILITY ([^\]]+)\]/i.exec(done);
    if (!match) {
      const capability = next((line) => /^\* CAPABILITY /i.test(line));
      socket.write('p2 CAPABILITY\r\n');
      match = /^\* CAPABILITY (.+)$/i.exec(await capability);
    }
    if (!done.startsWith('p1 OK') || !match) throw new DovecotStartError(`capability probe failed: ${done}`);
    socket.write('p3 LOGOUT\r\n');
    return match[1]!.trim().split(/\s+/);
  } finally {
    socket.destroy();
  }
}

function randomToken(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(12))).toString('hex');
}
