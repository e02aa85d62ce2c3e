/**
 * `npm run bench:sessions`: what IMAP connections cost a drain. 1,000
 * messages in a private Dovecot, `postroom poll`, then `postroom process`
 * (the real binary, batches of 50) with 5 header rules (flag, keyword, copy,
 * move, delete), through a counting proxy: connections, LOGIN, ID, NOOP,
 * every command, and the process step's wall time.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDovecotUser, startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { textMessage } from '../test/fixtures/messages.ts';
import { openSetupClient } from '../test/helpers/dovecot.ts';
import { startImapProxy } from '../test/helpers/imap-proxy.ts';

const PASSWORD = 'bench-sessions-password';
const MESSAGES = 1000;

const RULES = [
  { name: 'flag', when: { subject: { regex: '[0-9]*1$' } }, then: [{ flag: ['\\Flagged'] }] },
  { name: 'keyword', when: { subject: { regex: '[0-9]*2$' } }, then: [{ flag: ['bench'] }] },
  { name: 'copy', when: { subject: { regex: '[0-9]*3$' } }, then: [{ copy: 'Copied' }] },
  { name: 'move', when: { subject: { regex: '[0-9]*4$' } }, then: [{ move: 'Moved' }] },
  { name: 'delete', when: { subject: { regex: '[0-9]*5$' } }, then: [{ delete: true }] },
];

function postroom(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/postroom.js', ...args], {
      env: { ...process.env, BENCH_PASSWORD: PASSWORD, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  const dovecot = await startPrivateDovecot();
  const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-sessions-'));
  const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
  try {
    addDovecotUser(dovecot, 'sessions', PASSWORD);
    const seeder = await openSetupClient(dovecot, { user: 'sessions', password: PASSWORD });
    for (let i = 0; i < MESSAGES; i++)
      await seeder.append('INBOX', textMessage(i, { namespace: 'sessions' }));
    await seeder.logout();
    const file = join(dir, 'postroom.json');
    writeFileSync(
      file,
      JSON.stringify({
        accounts: [
          {
            id: 'sessions',
            host: proxy.host,
            port: proxy.port,
            tls: false,
            auth: { user: 'sessions', password: { env: 'BENCH_PASSWORD' } },
            start: 'all',
          },
        ],
        store: { kind: 'local', dir: join(dir, 'store') },
        rules: RULES,
      }),
    );
    if ((await postroom(['poll', '--config', file, '--quiet'])) !== 0)
      throw new Error('postroom poll failed');
    proxy.reset();
    const connectionsBefore = proxy.connections();
    const started = performance.now();
    const code = await postroom(['process', '--config', file, '--quiet']);
    const seconds = (performance.now() - started) / 1000;
    const commands = proxy.commands();
    const tally = new Map<string, number>();
    for (const name of commands) tally.set(name, (tally.get(name) ?? 0) + 1);
    console.log(
      `postroom process of ${MESSAGES} queued messages (batches of 50, 5 header rules): exit ${code}, ${seconds.toFixed(2)} s`,
    );
    console.log(
      `  connections ${proxy.connections() - connectionsBefore}, LOGIN ${tally.get('LOGIN') ?? 0}, ID ${tally.get('ID') ?? 0}, NOOP ${tally.get('NOOP') ?? 0}, LOGOUT ${tally.get('LOGOUT') ?? 0}, commands ${commands.length}`,
    );
    console.log(
      `  by command: ${[...tally]
        .sort((a, b) => b[1] - a[1])
        .map(([name, n]) => `${name} ${n}`)
        .join(', ')}`,
    );
  } finally {
    await proxy.close();
    await dovecot.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
