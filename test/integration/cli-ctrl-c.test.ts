/**
 * Ctrl-C through `npm run postroom -- run` exits 0, as `run --help` promises.
 * A terminal sends SIGINT to the whole foreground process group: npm, the
 * shell npm runs the script with, and node. The shell (dash) used to wait for
 * node and then kill itself with SIGINT, so npm reported 130 though postroom
 * had stopped cleanly; and npm forwards the signal too, so node sees it twice.
 * The test starts npm in a process group of its own and signals the group, as
 * the terminal does. No IMAP server is needed: polls of a closed port fail
 * and the process keeps running.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, writeConfigFile } from '../helpers/cli.ts';

let group: number | undefined;
afterEach(() => {
  if (group !== undefined) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
    group = undefined;
  }
});

describe('Ctrl-C under npm run', () => {
  it('npm run postroom -- run: SIGINT to the process group stops cleanly and exits 0', async () => {
    // Prepare
    const config = writeConfigFile({
      accounts: [
        {
          id: 'support',
          host: '127.0.0.1',
          port: 1,
          tls: false,
          auth: { user: 'x', password: { env: 'CTRL_C_PASSWORD' } },
        },
      ],
    });
    const npm = spawn('npm', ['run', '--silent', 'postroom', '--', 'run', '--config', config.file], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CTRL_C_PASSWORD: 'unused', NO_COLOR: '1' },
    });
    group = npm.pid;
    let stderr = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm.once('close', (code, signal) => resolve({ code, signal })),
    );
    npm.stdout!.resume();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not running within 30 s:\n${stderr}`)), 30_000);
      npm.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (/postroom is running/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

    // Act: what a terminal does on Ctrl-C.
    process.kill(-npm.pid!, 'SIGINT');
    const result = await exited;

    // Assess
    expect(result, stderr).toEqual({ code: 0, signal: null });
    expect(stderr).toContain('stopped cleanly');
    expect(stderr).not.toContain('again: exiting now');
  });
});
