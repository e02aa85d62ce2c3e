/**
 * The baseline for the ingest benchmark: a raw IMAP client on a plain socket
 * that logs in, EXAMINEs, sends one `UID FETCH 1:* (BODY.PEEK[])` and throws
 * the bytes away. Nothing can fetch faster over IMAP on this machine, so it is
 * the protocol's limit. Not product code: no literals in commands, no errors
 * beyond "the tagged response was not OK".
 */
import { connect, type Socket } from 'node:net';

export interface RawResult {
  bytes: number;
  ms: number;
}

class RawSession {
  readonly #socket: Socket;
  #tail = '';
  #waiter: { tag: string; resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  #bytes = 0;
  #seq = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#waiter?.reject(error));
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Sends a command and resolves with its tagged completion line. */
  command(text: string): Promise<string> {
    const tag = `R${++this.#seq}X`;
    return new Promise((resolve, reject) => {
      this.#waiter = {
        tag,
        resolve: (line) => (line.startsWith(`${tag} OK`) ? resolve(line) : reject(new Error(line))),
        reject,
      };
      this.#socket.write(`${tag} ${text}\r\n`);
    });
  }

  greeting(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiter = { tag: '*', resolve: () => resolve(), reject: () => {} };
    });
  }

  #onData(chunk: Buffer): void {
    this.#bytes += chunk.length;
    const waiter = this.#waiter;
    if (!waiter) return;
    // Only the end of the stream can hold the tagged line; keep a short tail across chunks.
    const text = this.#tail + chunk.toString('latin1', Math.max(0, chunk.length - 4096));
    this.#tail = text.slice(-512);
    const marker = waiter.tag === '*' ? '* OK' : `\r\n${waiter.tag} `;
    const start = waiter.tag === '*' ? text.indexOf(marker) : text.lastIndexOf(marker);
    const alsoAtStart = waiter.tag !== '*' && text.startsWith(`${waiter.tag} `);
    if (start < 0 && !alsoAtStart) return;
    const from = start >= 0 ? start + (waiter.tag === '*' ? 0 : 2) : 0;
    const end = text.indexOf('\r\n', from);
    if (end < 0) return;
    this.#waiter = undefined;
    this.#tail = '';
    waiter.resolve(text.slice(from, end));
  }

  close(): void {
    this.#socket.destroy();
  }
}

async function open(
  host: string,
  port: number,
  user: string,
  password: string,
  mailbox: string,
): Promise<RawSession> {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const session = new RawSession(socket);
  await session.greeting();
  await session.command(`LOGIN ${user} ${password}`);
  await session.command(`EXAMINE ${mailbox}`);
  return session;
}

/** (a) One `UID FETCH 1:* (BODY.PEEK[])`, bytes discarded. */
export async function rawFetchAll(
  host: string,
  port: number,
  user: string,
  password: string,
  mailbox = 'INBOX',
): Promise<RawResult> {
  const started = performance.now();
  const session = await open(host, port, user, password, mailbox);
  const before = session.bytes;
  await session.command('UID FETCH 1:* (BODY.PEEK[])');
  const bytes = session.bytes - before;
  await session.command('LOGOUT').catch(() => {});
  session.close();
  return { bytes, ms: performance.now() - started };
}

/** The floor for an empty poll: connect, LOGIN, EXAMINE, LOGOUT. */
export async function rawConnectExamine(
  host: string,
  port: number,
  user: string,
  password: string,
  mailbox = 'INBOX',
): Promise<number> {
  const started = performance.now();
  const session = await open(host, port, user, password, mailbox);
  await session.command('LOGOUT').catch(() => {});
  session.close();
  return performance.now() - started;
}
