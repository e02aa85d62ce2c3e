/**
 * `npm run bench:changes`: what `changes: true` costs a poll. Without QRESYNC
 * (ImapFlow selects without ENABLE QRESYNC, so VANISHED is not available),
 * expunges are found by one `UID SEARCH` over the UIDs the poller knows, and
 * flag changes by `UID FETCH … (FLAGS) (CHANGEDSINCE n)`. A private Dovecot
 * mailbox of BENCH_MESSAGES (10,000) messages, polled through the local
 * runtime with and without `changes: true`, on one warm session: an empty
 * poll, then after another client flags and expunges 100 messages. Prints
 * the median of each and the commands sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { configSchema } from '#lib/config/schema.ts';
import { pollAccount } from '#lib/core/poll.ts';
import { silentLogger } from '#lib/ports.ts';
import { addDovecotUser, startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';
import { textMessage } from '../test/fixtures/messages.ts';
import { openSetupClient } from '../test/helpers/dovecot.ts';
import { startImapProxy } from '../test/helpers/imap-proxy.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const ROUNDS = 7;
const PASSWORD = 'bench-changes-password';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const dovecot = await startPrivateDovecot();
  const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
  const dir = mkdtempSync(join(tmpdir(), 'postroom-bench-changes-'));
  try {
    addDovecotUser(dovecot, 'changes', PASSWORD);
    const seeder = await openSetupClient(dovecot, { user: 'changes', password: PASSWORD });
    for (let i = 0; i < MESSAGES; i++)
      await seeder.append('INBOX', textMessage(i, { namespace: 'changes', bytes: 256 }));
    process.env.BENCH_PASSWORD = PASSWORD;
    const account = (id: string, changes: boolean) => ({
      id,
      host: proxy.host,
      port: proxy.port,
      tls: false,
      auth: { user: 'changes', password: { env: 'BENCH_PASSWORD' } },
      start: 'all',
      mailboxes: [{ name: 'INBOX', changes }],
    });
    const config = configSchema.parse({
      accounts: [account('plain', false), account('changes', true)],
      store: { kind: 'local', dir: join(dir, 'store') },
    });
    const runtime = await openRuntime(config, { logger: silentLogger });
    const poll = async (id: string) => {
      const started = performance.now();
      await pollAccount(runtime.pollDependencies(), {
        account: config.accounts.find((a) => a.id === id)!,
        ingest: config.ingest,
      });
      return performance.now() - started;
    };
    // First polls: every message delivered once per account, the flags recorded.
    const firstPlain = await poll('plain');
    const firstChanges = await poll('changes');
    const rows: [string, string, string][] = [];
    const measure = async (label: string) => {
      const times = { plain: [] as number[], changes: [] as number[] };
      const sent = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        times.plain.push(await poll('plain'));
        proxy.reset();
        times.changes.push(await poll('changes'));
        for (const command of proxy.commands()) sent.set(command, (sent.get(command) ?? 0) + 1);
      }
      const perPoll = [...sent].map(([c, n]) => `${c} ×${n / ROUNDS}`).join(', ');
      rows.push([label, `${median(times.plain).toFixed(1)} ms`, `${median(times.changes).toFixed(1)} ms`]);
      console.log(`${label}: commands per changes poll: ${perPoll}`);
    };
    await measure('empty poll');
    // Another client flags 100 messages and expunges 100 others; the first changes poll sees them.
    const lock = await seeder.getMailboxLock('INBOX');
    try {
      await seeder.messageFlagsAdd('1:100', ['\\Flagged'], { uid: true });
      await seeder.messageDelete('201:300', { uid: true });
    } finally {
      lock.release();
    }
    proxy.reset();
    const afterChange = await poll('changes');
    const commandsAfterChange = proxy.commands().join(' ');
    await measure('empty poll after the change');
    await seeder.logout();
    await runtime.close();
    console.log(
      `\n${MESSAGES} messages in INBOX; first poll (all mail): plain ${firstPlain.toFixed(0)} ms, changes ${firstChanges.toFixed(0)} ms`,
    );
    console.log(
      `poll that found 100 flag changes and 100 expunges: ${afterChange.toFixed(1)} ms (${commandsAfterChange})`,
    );
    console.log(`\n${'poll (median of 7)'.padEnd(30)}  ${'changes: false'.padEnd(14)}  changes: true`);
    for (const [label, plain, changes] of rows)
      console.log(`${label.padEnd(30)}  ${plain.padEnd(14)}  ${changes}`);
  } finally {
    await proxy.close?.();
    await dovecot.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
