/**
 * A private Dovecot for humans and benchmarks:
 *
 *     node --import tsx scripts/dovecot.ts start [--variants] [--dir DIR] [--user NAME:PASSWORD ...]
 *
 * prints one line of JSON (host, ports, caFile, usersDir, ...) and stays up
 * until SIGINT or SIGTERM, then stops Dovecot and removes its temporary folder.
 */
import { parseArgs } from 'node:util';
import { startPrivateDovecot } from '#lib/sandbox/dovecot/private-dovecot.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    variants: { type: 'boolean', default: false },
    dir: { type: 'string' },
    user: { type: 'string', multiple: true, default: [] },
  },
});

if (positionals[0] !== 'start') {
  process.stderr.write(
    'usage: node --import tsx scripts/dovecot.ts start [--variants] [--dir DIR] [--user NAME:PASSWORD ...]\n',
  );
  process.exit(2);
}

const users = values.user.map((spec) => {
  const at = spec.indexOf(':');
  if (at <= 0) throw new Error(`--user expects NAME:PASSWORD, got ${JSON.stringify(spec)}`);
  return { user: spec.slice(0, at), password: spec.slice(at + 1) };
});

const dovecot = await startPrivateDovecot({ variants: values.variants, dir: values.dir, users });
const { addUser: _addUser, stop: _stop, ...info } = dovecot;
process.stdout.write(`${JSON.stringify(info)}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await dovecot.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Keep the event loop alive until a signal arrives.
setInterval(() => undefined, 1 << 30);
