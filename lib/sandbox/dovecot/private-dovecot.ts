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
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chownTree, findDovecot, runAccount } from './account.ts';
import { ensureCertificate } from './certificate.ts';
import { HOST } from './config.ts';
import { readCapabilities } from './imap-probe.ts';
import { type Instance, startInstance, stopInstances, stopInstancesSync } from './instances.ts';
import { addDovecotUser } from './users.ts';

export { DovecotStartError } from './start-error.ts';
export { addDovecotUser } from './users.ts';

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
const DEFAULT_SYSTEM_USER = 'postroom-dovecot';

/** Extensions each variant hides (QRESYNC implies CONDSTORE, RFC 7162, so it goes too). */
const HIDDEN: Record<Exclude<DovecotVariant, 'plainOnly'>, string[]> = {
  noMove: ['MOVE'],
  noUidplus: ['UIDPLUS'],
  noCondstoreIdle: ['CONDSTORE', 'QRESYNC', 'IDLE'],
};

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
function removeQuietly(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // Best effort at exit: a leftover temp folder is not worth failing the run for.
  }
}
function randomToken(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(12))).toString('hex');
}
