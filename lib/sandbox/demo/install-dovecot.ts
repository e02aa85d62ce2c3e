/**
 * The demo needs a Dovecot binary. On a fresh Debian machine, run as root (a
 * container, a CI box, a throwaway VM), `npm start` installs the package
 * itself rather than stopping at "please install": that is what a newcomer
 * typing the README's first command expects. It never starts the system
 * service (a policy-rc.d that says "no" is in place during the install), and
 * it never runs without root or where apt-get is missing: then it only says
 * what to run. POSTROOM_NO_INSTALL=1 turns it off.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../../ports.ts';
import { dovecotInstalled } from './demo.ts';

const POLICY = '/usr/sbin/policy-rc.d';

export async function ensureDovecotInstalled(say: (line: string) => void, logger?: Logger): Promise<boolean> {
  if (dovecotInstalled()) return true;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !existsSync('/usr/bin/apt-get') || process.env.POSTROOM_NO_INSTALL === '1') return false;
  say(
    'Dovecot is not installed: installing dovecot-imapd with apt-get (running as root; the system service is not started)…',
  );
  const madePolicy = !existsSync(POLICY);
  if (madePolicy) writeFileSync(POLICY, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-qq'], env, logger);
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'dovecot-imapd'], env, logger);
  } catch (error) {
    say(`could not install dovecot-imapd: ${(error as Error).message}`);
    return false;
  } finally {
    if (madePolicy) rmSync(POLICY, { force: true });
  }
  return dovecotInstalled();
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, logger?: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-2000);
      logger?.debug(chunk.toString().trimEnd());
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args[0]} exited ${code}: ${tail.trim().split('\n').pop()}`)),
    );
  });
}
