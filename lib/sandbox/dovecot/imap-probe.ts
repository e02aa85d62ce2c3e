/**
 * The two IMAP conversations the starter itself holds with an instance: wait for
 * its greeting (ready), and read the capability list after login (the variants
 * are derived from it).
 */
import { Socket } from 'node:net';
import { DovecotStartError } from './start-error.ts';

export async function readGreeting(host: string, port: number): Promise<void> {
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
export async function readCapabilities(
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
