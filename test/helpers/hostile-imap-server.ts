/**
 * A scripted IMAP server that misbehaves on purpose, in process, plaintext, on
 * 127.0.0.1 and a free port. By default it is a well-behaved little server:
 * enough for ImapFlow to log in and for `postroom poll` to ingest a mailbox of
 * three real messages (UIDs 1..3, UIDVALIDITY 7, UIDNEXT 4). A scenario
 * replaces the greeting or any command's answer with a hook.
 *
 * The server must stay cheap while the client is attacked: this machine is
 * shared. A 900 MiB literal is announced and then fed from one reused chunk
 * (or not at all), an endless line is streamed the same way, every write
 * waits for the socket to drain, every connection is destroyed after
 * `connectionLimitMs` (60 s) whatever a hook is doing, and `close()` destroys
 * the sockets that are left.
 *
 * The scenarios of issue 11 ("Bounded against any server") are defined here,
 * as data, so that the test (`test/integration/imap-hostile.test.ts`) and the
 * benchmark (`bench/hostile.ts`) run the same ones.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImapLimits } from '#lib/config/schema.ts';
import { splitCommand } from './imap-args.ts';

/** One message the server holds. */
export interface HostileMessage {
  uid: number;
  /** The raw RFC 822 message, as BODY[] returns it. */
  body: Buffer;
  /** INTERNALDATE as written in the FETCH answer (between the quotes). */
  internalDate: string;
  flags: string[];
}

/** The one mailbox (INBOX) the server serves; scenarios and tests may change it between polls. */
export interface HostileMailbox {
  uidValidity: number;
  /** Sent as `[UIDNEXT n]` in EXAMINE/SELECT; `undefined` leaves it out. */
  uidNext: number | undefined;
  messages: HostileMessage[];
}

/** What a command hook sees and can do. */
export interface HostileCommand {
  readonly tag: string;
  /** The command, upper case, with `UID ` kept: `LOGIN`, `UID FETCH`, `UID SEARCH`. */
  readonly name: string;
  /** Everything after the name. */
  readonly args: string;
  readonly mailbox: HostileMailbox;
  /** For `UID FETCH` and `UID SEARCH UID <set>`: the existing UIDs the set names, ascending. */
  readonly uids: number[];
  /** For `UID FETCH`: true when BODY[] / BODY.PEEK[] is asked for. */
  readonly wantsBody: boolean;
  /** Writes, waiting for the socket to drain; false once the connection is gone. */
  write(data: string | Buffer): Promise<boolean>;
  /** The answer a well-behaved server gives. */
  answer(): Promise<void>;
  /** Records that the hostile act starts now (the tests time the client's reaction from here). */
  mark(): void;
  /** Ends the connection once what was written has gone out (FIN), as a server after BYE. */
  end(): void;
  /** True once the connection is gone. */
  isClosed(): boolean;
  /** Resolves when the connection is gone (at the latest after `connectionLimitMs`). */
  readonly closed: Promise<void>;
}

/** Replaces the answer to one command; what it returns (or resolves to) is ignored. */
export type CommandHook = (command: HostileCommand) => unknown;

/** What the greeting hook sees: a command without tag, name or arguments. */
export type GreetingHook = (
  connection: Pick<HostileCommand, 'write' | 'mark' | 'end' | 'isClosed' | 'closed'>,
) => unknown;

export interface HostileServerOptions {
  /** Replaces `* OK hostile IMAP ready`. */
  greeting?: GreetingHook;
  /**
   * Hooks by command name (`ID`, `NAMESPACE`, `EXAMINE`, `UID SEARCH`, ...).
   * `UID FETCH BODY` and `UID FETCH META` take precedence over `UID FETCH`
   * for body and metadata fetches.
   */
  commands?: Record<string, CommandHook>;
  /** Changes to the default mailbox (three messages, UIDVALIDITY 7, UIDNEXT 4). */
  mailbox?: Partial<HostileMailbox>;
  /**
   * Every connection is destroyed this long after it opened, so no hook can
   * outlive a test run. @default 60000
   */
  connectionLimitMs?: number;
}

/** A running hostile server. */
export interface HostileServer {
  readonly port: number;
  /** The served mailbox: change it between polls to add mail. */
  readonly mailbox: HostileMailbox;
  /** Every command received, in order, as `NAME args`. */
  readonly commands: string[];
  /** When a hook first called `mark()` (epoch ms), if one did. */
  hostileAt(): number | undefined;
  /** When the first connection came in (epoch ms): a session's deadline runs from about then. */
  connectedAt(): number | undefined;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/** The capabilities announced before and after LOGIN (ID, so that ImapFlow sends its ID). */
export const HOSTILE_CAPABILITIES = 'IMAP4rev1 ID NAMESPACE UIDPLUS';

/** The password the test and the benchmark give the account (env `HOSTILE_PASSWORD`). */
export const HOSTILE_PASSWORD = 'hostile-pass';

/** A small real message with Message-ID, Subject and a short text body. */
export function hostileMessage(
  uid: number,
  text = `Message ${uid} from the hostile server.`,
): HostileMessage {
  const body = Buffer.from(
    [
      `Message-ID: <hostile-${uid}@postroom.test>`,
      'From: Sender <sender@postroom.test>',
      'To: hostile@postroom.test',
      `Subject: hostile message ${uid}`,
      'Date: Thu, 01 Jan 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      text,
      '',
    ].join('\r\n'),
  );
  const day = String(uid).padStart(2, '0');
  return { uid, body, internalDate: `${day}-Jan-2026 10:00:00 +0000`, flags: ['\\Seen'] };
}

/** The default mailbox: UIDs 1..3, UIDVALIDITY 7, UIDNEXT 4. */
export function defaultMailbox(): HostileMailbox {
  return { uidValidity: 7, uidNext: 4, messages: [1, 2, 3].map((uid) => hostileMessage(uid)) };
}

/** `* seq FETCH (UID u RFC822.SIZE s INTERNALDATE "d" FLAGS (f))`, CRLF included. */
export function metaResponse(
  message: HostileMessage,
  seq: number,
  overrides: { internalDate?: string; size?: number } = {},
): string {
  const size = overrides.size ?? message.body.length;
  const date = overrides.internalDate ?? message.internalDate;
  return `* ${seq} FETCH (UID ${message.uid} RFC822.SIZE ${size} INTERNALDATE "${date}" FLAGS (${message.flags.join(' ')}))\r\n`;
}

/** `* seq FETCH (UID u BODY[] {n}` CRLF, the body, `)` CRLF. */
export function bodyResponse(message: HostileMessage, seq: number, body: Buffer = message.body): Buffer {
  return Buffer.concat([
    Buffer.from(`* ${seq} FETCH (UID ${message.uid} BODY[] {${body.length}}\r\n`),
    body,
    Buffer.from(')\r\n'),
  ]);
}

/** The message sequence number of a UID (1-based position in the mailbox). */
export function seqOf(mailbox: HostileMailbox, uid: number): number {
  return mailbox.messages.findIndex((m) => m.uid === uid) + 1;
}

/** The messages a command's UID set names. */
export function messagesOf(command: HostileCommand): HostileMessage[] {
  return command.uids.flatMap((uid) => command.mailbox.messages.find((m) => m.uid === uid) ?? []);
}

/**
 * The UIDs of `mailbox` a UID set (`1:3`, `2,4:*`) names. `n:*` always names
 * the highest UID, even below n (RFC 3501 6.4.8), as real servers answer.
 */
export function uidsInSet(set: string, mailbox: HostileMailbox): number[] {
  const existing = mailbox.messages.map((m) => m.uid).sort((a, b) => a - b);
  const highest = existing[existing.length - 1] ?? 0;
  const wanted = new Set<number>();
  for (const part of set.split(',')) {
    const [from, to = from] = part.split(':').map((n) => (n === '*' ? highest : Number(n)));
    const low = Math.min(from!, to!);
    const high = Math.max(from!, to!);
    for (const uid of existing) if (uid >= low && uid <= high) wanted.add(uid);
  }
  return [...wanted].sort((a, b) => a - b);
}

const CHUNK_BYTES = 64 * 1024;

/**
 * Writes `data` and waits until the socket has taken it (drain), so a client
 * that stops reading stops the server too. False once the connection is gone.
 */
function writeDrained(socket: Socket, data: string | Buffer): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return Promise.resolve(false);
  if (socket.write(data)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

type Writer = Pick<HostileCommand, 'write' | 'isClosed'>;

/**
 * Announces a literal of `size` bytes after `prefix` (`* ID ("name" {943718400}`)
 * and then, with `feed: true`, sends it from one reused 64 KiB chunk as fast as
 * the client reads, never allocating it. Stops when the client goes away.
 */
export async function announceLiteral(
  writer: Writer,
  prefix: string,
  size: number,
  options: { feed: boolean; fill?: number } = { feed: true },
): Promise<void> {
  if (!(await writer.write(`${prefix}{${size}}\r\n`)) || !options.feed) return;
  const chunk = Buffer.alloc(CHUNK_BYTES, options.fill ?? 0x61);
  for (let sent = 0; sent < size && !writer.isClosed(); sent += chunk.length) {
    if (!(await writer.write(size - sent >= chunk.length ? chunk : chunk.subarray(0, size - sent)))) return;
  }
}

/** Sends `prefix` and then `x` forever, never a CRLF, as fast as the client reads. */
export async function endlessLine(writer: Writer, prefix: string): Promise<void> {
  if (!(await writer.write(prefix))) return;
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x78);
  while (!writer.isClosed()) if (!(await writer.write(chunk))) return;
}

/** Sends `piece` over and over (64 KiB at a time), as fast as the client reads. */
export async function flood(writer: Writer, piece: string): Promise<void> {
  const chunk = Buffer.from(piece.repeat(Math.max(1, Math.floor(CHUNK_BYTES / piece.length))));
  while (!writer.isClosed()) if (!(await writer.write(chunk))) return;
}

/** Sends `data` one byte at a time, `bytesPerSecond` of them a second. */
export async function trickle(writer: Writer, data: Buffer, bytesPerSecond: number): Promise<void> {
  const gapMs = 1000 / bytesPerSecond;
  for (let i = 0; i < data.length && !writer.isClosed(); i++) {
    if (!(await writer.write(data.subarray(i, i + 1)))) return;
    await sleep(gapMs);
  }
}

/** The answers of a well-behaved server, by command. */
const DEFAULTS: Record<string, CommandHook> = {
  CAPABILITY: (c) => c.write(`* CAPABILITY ${HOSTILE_CAPABILITIES}\r\n${c.tag} OK done\r\n`),
  LOGIN: (c) => c.write(`${c.tag} OK [CAPABILITY ${HOSTILE_CAPABILITIES}] Logged in\r\n`),
  ID: (c) => c.write(`* ID ("name" "hostile")\r\n${c.tag} OK done\r\n`),
  NAMESPACE: (c) => c.write(`* NAMESPACE (("" "/")) NIL NIL\r\n${c.tag} OK done\r\n`),
  LIST: (c) => c.write(`* LIST (\\HasNoChildren) "/" INBOX\r\n${c.tag} OK done\r\n`),
  LSUB: (c) => c.write(`* LSUB (\\HasNoChildren) "/" INBOX\r\n${c.tag} OK done\r\n`),
  EXAMINE: (c) => c.write(selectAnswer(c.mailbox, c.tag, 'READ-ONLY')),
  SELECT: (c) => c.write(selectAnswer(c.mailbox, c.tag, 'READ-WRITE')),
  STATUS: (c) =>
    c.write(
      `* STATUS INBOX (MESSAGES ${c.mailbox.messages.length} UIDNEXT ${c.mailbox.uidNext ?? 0} UIDVALIDITY ${c.mailbox.uidValidity})\r\n${c.tag} OK done\r\n`,
    ),
  'UID SEARCH': (c) => c.write(`* SEARCH${c.uids.map((uid) => ` ${uid}`).join('')}\r\n${c.tag} OK done\r\n`),
  'UID FETCH': async (c) => {
    for (const message of messagesOf(c)) {
      const seq = seqOf(c.mailbox, message.uid);
      if (!(await c.write(c.wantsBody ? bodyResponse(message, seq) : metaResponse(message, seq)))) return;
    }
    await c.write(`${c.tag} OK done\r\n`);
  },
  NOOP: (c) => c.write(`${c.tag} OK done\r\n`),
  CLOSE: (c) => c.write(`${c.tag} OK done\r\n`),
  UNSELECT: (c) => c.write(`${c.tag} OK done\r\n`),
  LOGOUT: (c) => c.write(`* BYE logging out\r\n${c.tag} OK done\r\n`),
};

function selectAnswer(mailbox: HostileMailbox, tag: string, mode: string): string {
  return [
    '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)',
    '* OK [PERMANENTFLAGS ()] none',
    `* ${mailbox.messages.length} EXISTS`,
    '* 0 RECENT',
    `* OK [UIDVALIDITY ${mailbox.uidValidity}] ok`,
    ...(mailbox.uidNext === undefined ? [] : [`* OK [UIDNEXT ${mailbox.uidNext}] ok`]),
    `${tag} OK [${mode}] done`,
    '',
  ].join('\r\n');
}

/** Client command lines are short; a client sending more than this without CRLF is dropped. */
const MAX_CLIENT_LINE = 64 * 1024;

/** Starts a hostile server on 127.0.0.1 and a free port. */
export async function startHostileServer(options: HostileServerOptions = {}): Promise<HostileServer> {
  const mailbox: HostileMailbox = { ...defaultMailbox(), ...options.mailbox };
  const limitMs = options.connectionLimitMs ?? 60_000;
  const sockets = new Set<Socket>();
  const commands: string[] = [];
  let hostileAt: number | undefined;
  let connectedAt: number | undefined;
  const mark = () => {
    hostileAt ??= Date.now();
  };

  const server: Server = createServer((socket) => {
    connectedAt ??= Date.now();
    sockets.add(socket);
    socket.on('error', () => undefined);
    // Not events.once: it rejects on 'error', and a reset by the client is routine here.
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const timer = setTimeout(() => socket.destroy(), limitMs);
    timer.unref();
    closed.then(() => {
      clearTimeout(timer);
      sockets.delete(socket);
    });
    const connection = {
      write: (data: string | Buffer) => writeDrained(socket, data),
      mark,
      end: () => {
        socket.end();
      },
      isClosed: () => socket.destroyed,
      closed,
    };

    // Commands are answered one after another, as a hook that never returns
    // (a stall, a flood) would leave a real server's client waiting too.
    const greet: GreetingHook = options.greeting ?? ((c) => c.write('* OK hostile IMAP ready\r\n'));
    let queue: Promise<unknown> = Promise.resolve()
      .then(() => greet(connection))
      .catch(() => socket.destroy());
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (buffer.length > MAX_CLIENT_LINE) {
        socket.destroy();
        return;
      }
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        queue = queue.then(() => dispatch(line)).catch(() => socket.destroy());
      }
    });

    const dispatch = async (line: string): Promise<void> => {
      if (socket.destroyed) return;
      const parsed = splitCommand(line);
      if (!parsed) return;
      const { tag, name, args } = parsed;
      commands.push(`${name} ${args}`.trim());
      const set = name === 'UID FETCH' ? args.split(' ')[0]! : /\bUID (\S+)/i.exec(args)?.[1];
      const wantsBody = name === 'UID FETCH' && /BODY(\.PEEK)?\[\]/i.test(args);
      const command: HostileCommand = {
        tag,
        name,
        args,
        mailbox,
        uids: set ? uidsInSet(set, mailbox) : mailbox.messages.map((m) => m.uid),
        wantsBody,
        ...connection,
        answer: async () => {
          const fallback = DEFAULTS[name];
          await (fallback ? fallback(command) : connection.write(`${tag} BAD unknown command\r\n`));
          if (name === 'LOGOUT') connection.end();
        },
      };
      const specific =
        name === 'UID FETCH' ? options.commands?.[`UID FETCH ${wantsBody ? 'BODY' : 'META'}`] : undefined;
      const hook = specific ?? options.commands?.[name];
      await (hook ? hook(command) : command.answer());
    };
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    mailbox,
    commands,
    hostileAt: () => hostileAt,
    connectedAt: () => connectedAt,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What ends a scenario's poll, and so which time bound applies. */
export type HostileEnding =
  /** refused at once: within a couple of seconds of the hostile act */
  | 'fast'
  /** the command goes silent: within `stallSeconds` (+ slack) of the hostile act */
  | 'stall'
  /** bytes keep coming: at the session deadline (+ slack) */
  | 'session'
  /** nothing to wait for: like any poll, well within the session deadline */
  | 'normal';

/** One misbehaviour, what the server does and what Postroom must do about it. */
export interface HostileScenario {
  /** Short and stable: the table's first column. */
  id: string;
  /** What the server does. */
  does: string;
  /** What Postroom must do (the planned behaviour of issue 11). */
  expected: string;
  ends: HostileEnding;
  /** `either`: a clean failure and a success are both acceptable. */
  outcome: 'fails' | 'succeeds' | 'either';
  /** What the error line must name besides the account (`hostile`). */
  errorNames?: RegExp[];
  /** Limits this scenario needs, over the run's own. */
  limits?: ImapLimits;
  /** The checkpoint's lastUid after the last poll: none, or below a UID, when it failed; exact when it succeeded. */
  checkpoint: { onFailure?: 'none' | { below: number }; onSuccess?: number };
  /** Fresh server options for one run (hooks may keep state). */
  server(): HostileServerOptions;
  /** Polls in a row against the same server and store. @default 1 */
  polls?: number;
  /**
   * Added to `postroom poll --json`: `--verbose` where a warning must show,
   * since `--json` alone prints errors only.
   */
  pollArgs?: string[];
  /** Runs before poll `index` (0-based), e.g. to add mail. */
  beforePoll?(mailbox: HostileMailbox, index: number): void;
}

/** The whole default answer to a body fetch, as one buffer (for trickling or cutting). */
function bodyAnswer(command: HostileCommand): Buffer {
  return Buffer.concat([
    ...messagesOf(command).map((m) => bodyResponse(m, seqOf(command.mailbox, m.uid))),
    Buffer.from(`${command.tag} OK done\r\n`),
  ]);
}

/** Answers a fetch like the default, but only for the messages `keep` lets through, in `order`. */
function fetchSome(
  keep: (message: HostileMessage, command: HostileCommand) => boolean,
  order: 'ascending' | 'descending' = 'ascending',
): CommandHook {
  return async (c) => {
    c.mark();
    const messages = messagesOf(c).filter((m) => keep(m, c));
    if (order === 'descending') messages.reverse();
    for (const m of messages) {
      const seq = seqOf(c.mailbox, m.uid);
      if (!(await c.write(c.wantsBody ? bodyResponse(m, seq) : metaResponse(m, seq)))) return;
    }
    await c.write(`${c.tag} OK done\r\n`);
  };
}

/** Bytes that are not UTF-8: a lone continuation byte, 0xff, and a lead byte with a bad follower. */
const INVALID_UTF8 = Buffer.from([0x80, 0xff, 0xfe, 0xc3, 0x28]);

/** The second body the `duplicate-uid` scenario sends for UID 1: it must never be stored. */
export const DUPLICATE_BODY = hostileMessage(1, 'SECOND BODY: this must never replace the first.').body;

/** The UID the `unasked-uid` scenario slips into its answer. */
export const UNASKED_UID = 99;

/**
 * The scenarios of issue 11, section 3. Both the test and the benchmark run
 * every one of these; a scenario added here is run by both.
 */
export const HOSTILE_SCENARIOS: readonly HostileScenario[] = [
  {
    id: 'id-literal-900mib',
    does: 'answers ID with a 900 MiB literal',
    expected: 'refused as a literal over maxLineBytes, before it is read',
    ends: 'fast',
    outcome: 'fails',
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        ID: async (c) => {
          c.mark();
          await announceLiteral(c, '* ID ("name" ', 900 * 1024 * 1024, { feed: true });
        },
      },
    }),
  },
  {
    id: 'greeting-endless-line',
    does: 'greets with a line that never ends (no CRLF)',
    expected: 'fails once the line passes maxLineBytes',
    ends: 'fast',
    outcome: 'fails',
    checkpoint: { onFailure: 'none' },
    server: () => ({
      greeting: async (c) => {
        c.mark();
        await endlessLine(c, '* OK ');
      },
    }),
  },
  {
    id: 'namespace-endless-line',
    does: 'answers NAMESPACE (after LOGIN) with a line that never ends',
    expected: 'fails once the line passes maxLineBytes',
    ends: 'fast',
    outcome: 'fails',
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        NAMESPACE: async (c) => {
          c.mark();
          await endlessLine(c, '* NAMESPACE (("');
        },
      },
    }),
  },
  {
    id: 'exists-flood',
    does: 'floods `* 3 EXISTS` after LOGIN, as fast as the socket takes it',
    expected: 'ends at the session deadline with a one-line error',
    ends: 'session',
    outcome: 'fails',
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        LOGIN: async (c) => {
          await c.write(`${c.tag} OK [CAPABILITY ${HOSTILE_CAPABILITIES}] Logged in\r\n`);
          c.mark();
          await flood(c, '* 3 EXISTS\r\n');
        },
      },
    }),
  },
  {
    id: 'trickle-body-fetch',
    does: 'trickles the body FETCH answer at 10 bytes/s',
    expected: 'ends at the session deadline, naming INBOX',
    ends: 'session',
    outcome: 'fails',
    errorNames: [/INBOX/],
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          c.mark();
          await trickle(c, bodyAnswer(c), 10);
        },
      },
    }),
  },
  {
    id: 'stall-body-fetch',
    does: 'sends 60 bytes of the body FETCH answer, then nothing (connection open)',
    expected: 'fails after stallSeconds, naming INBOX and the FETCH',
    ends: 'stall',
    outcome: 'fails',
    errorNames: [/INBOX/, /FETCH/i],
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          await c.write(bodyAnswer(c).subarray(0, 60));
          c.mark();
          await c.closed;
        },
      },
    }),
  },
  {
    id: 'bye-mid-fetch',
    does: 'answers the first body, then `* BYE` and closes',
    expected: 'a one-line error naming INBOX; nothing checkpointed',
    ends: 'fast',
    outcome: 'fails',
    errorNames: [/INBOX/],
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          const [first] = messagesOf(c);
          if (first) await c.write(bodyResponse(first, seqOf(c.mailbox, first.uid)));
          c.mark();
          await c.write('* BYE server shutting down\r\n');
          c.end();
        },
      },
    }),
  },
  {
    id: 'body-literal-10gb',
    does: 'announces a 10 GB body literal for a message of RFC822.SIZE ~230',
    expected: 'refused at once (literal over RFC822.SIZE + bodySlackBytes)',
    ends: 'fast',
    outcome: 'fails',
    errorNames: [/INBOX/],
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          c.mark();
          await announceLiteral(c, `* 1 FETCH (UID ${c.uids[0]} BODY[] `, 10_000_000_000, { feed: true });
        },
      },
    }),
  },
  {
    id: 'body-literal-over-slack',
    does: 'sends a 200 KiB body literal for a message of RFC822.SIZE ~230 (bodySlackBytes 1024)',
    expected: 'refused as larger than announced + slack',
    ends: 'fast',
    outcome: 'fails',
    errorNames: [/INBOX/],
    limits: { bodySlackBytes: 1024 },
    checkpoint: { onFailure: 'none' },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          const [first, ...rest] = messagesOf(c);
          if (!first) return;
          c.mark();
          const padded = Buffer.concat([first.body, Buffer.alloc(200 * 1024 - first.body.length, 0x7a)]);
          if (!(await c.write(bodyResponse(first, seqOf(c.mailbox, first.uid), padded)))) return;
          for (const m of rest) if (!(await c.write(bodyResponse(m, seqOf(c.mailbox, m.uid))))) return;
          await c.write(`${c.tag} OK done\r\n`);
        },
      },
    }),
  },
  {
    id: 'duplicate-uid',
    does: 'answers UID 1 twice in one body FETCH, with different bodies',
    pollArgs: ['--verbose'],
    expected: 'no crash; the first body kept (a warning) or the batch failed; never the second body stored',
    ends: 'normal',
    outcome: 'either',
    checkpoint: { onFailure: 'none', onSuccess: 3 },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          c.mark();
          for (const m of messagesOf(c)) {
            const seq = seqOf(c.mailbox, m.uid);
            if (!(await c.write(bodyResponse(m, seq)))) return;
            if (m.uid === 1 && !(await c.write(bodyResponse(m, seq, DUPLICATE_BODY)))) return;
          }
          await c.write(`${c.tag} OK done\r\n`);
        },
      },
    }),
  },
  {
    id: 'unasked-uid',
    does: 'adds `* 99 FETCH (UID 99 BODY[] ...)` to the body FETCH answer',
    expected: 'UID 99 not stored; the asked UIDs stored; checkpoint 3',
    ends: 'normal',
    outcome: 'succeeds',
    checkpoint: { onSuccess: 3 },
    server: () => ({
      commands: {
        'UID FETCH BODY': async (c) => {
          c.mark();
          for (const m of messagesOf(c))
            if (!(await c.write(bodyResponse(m, seqOf(c.mailbox, m.uid))))) return;
          if (!(await c.write(bodyResponse(hostileMessage(UNASKED_UID), UNASKED_UID)))) return;
          await c.write(`${c.tag} OK done\r\n`);
        },
      },
    }),
  },
  {
    id: 'uids-descending',
    does: 'answers the metadata and body FETCH in descending UID order (3, 2, 1)',
    expected: 'all stored; checkpoint 3',
    ends: 'normal',
    outcome: 'succeeds',
    checkpoint: { onSuccess: 3 },
    server: () => ({
      commands: {
        'UID FETCH': fetchSome(() => true, 'descending'),
      },
    }),
  },
  {
    id: 'uidvalidity-0',
    does: 'answers EXAMINE with UIDVALIDITY 0 (invalid, RFC 3501 2.3.1.1)',
    expected: 'refused with a one-line error naming UIDVALIDITY; no checkpoint',
    ends: 'fast',
    outcome: 'fails',
    errorNames: [/INBOX/, /UIDVALIDITY/],
    checkpoint: { onFailure: 'none' },
    server: () => ({
      mailbox: { uidValidity: 0 },
      commands: {
        EXAMINE: async (c) => {
          c.mark();
          await c.answer();
        },
      },
    }),
  },
  {
    id: 'uidnext-0',
    does: 'answers EXAMINE (and STATUS) with UIDNEXT 0; UID 4 is added before the third poll',
    expected: 'poll 1 stores 3 (checkpoint 3), poll 2 nothing new, poll 3 finds UID 4 by SEARCH',
    ends: 'normal',
    outcome: 'succeeds',
    checkpoint: { onSuccess: 4 },
    polls: 3,
    beforePoll: (mailbox, index) => {
      if (index === 2) mailbox.messages.push(hostileMessage(4));
    },
    server: () => ({ mailbox: { uidNext: 0 } }),
  },
  {
    id: 'internaldate-unpadded',
    does: 'sends INTERNALDATE with an unpadded day ("1-Jan-2026 10:00:00 +0000")',
    expected: 'all stored, internalDate 2026-01-0<uid>T10:00:00.000Z; checkpoint 3',
    ends: 'normal',
    outcome: 'succeeds',
    checkpoint: { onSuccess: 3 },
    server: () => ({
      commands: {
        'UID FETCH META': async (c) => {
          c.mark();
          for (const m of messagesOf(c)) {
            const line = metaResponse(m, seqOf(c.mailbox, m.uid), {
              internalDate: `${m.uid}-Jan-2026 10:00:00 +0000`,
            });
            if (!(await c.write(line))) return;
          }
          await c.write(`${c.tag} OK done\r\n`);
        },
      },
    }),
  },
  {
    id: 'meta-uid-missing',
    does: 'leaves UID 2 out of a metadata FETCH of several UIDs (answers it when asked alone)',
    expected: 'UID 2 fetched again and stored; checkpoint 3',
    ends: 'normal',
    outcome: 'succeeds',
    checkpoint: { onSuccess: 3 },
    server: () => ({
      commands: { 'UID FETCH META': fetchSome((m, c) => m.uid !== 2 || c.uids.length === 1) },
    }),
  },
  {
    id: 'body-uid-missing',
    does: 'leaves UID 2 out of a body FETCH of several UIDs (answers it when asked alone)',
    expected: 'UID 2 fetched again and stored; checkpoint 3',
    ends: 'normal',
    outcome: 'succeeds',
    checkpoint: { onSuccess: 3 },
    server: () => ({
      commands: { 'UID FETCH BODY': fetchSome((m, c) => m.uid !== 2 || c.uids.length === 1) },
    }),
  },
  {
    id: 'meta-uid-never',
    does: 'never answers UID 2 in a metadata FETCH (SEARCH lists it)',
    expected: 'the mailbox fails; the checkpoint stays below UID 2',
    ends: 'normal',
    outcome: 'fails',
    errorNames: [/INBOX/],
    checkpoint: { onFailure: { below: 2 } },
    server: () => ({ commands: { 'UID FETCH META': fetchSome((m) => m.uid !== 2) } }),
  },
  {
    id: 'body-uid-never',
    does: 'never answers UID 2 in a body FETCH (SEARCH lists it)',
    expected: 'the mailbox fails; the checkpoint stays below UID 2',
    ends: 'normal',
    outcome: 'fails',
    errorNames: [/INBOX/],
    checkpoint: { onFailure: { below: 2 } },
    server: () => ({ commands: { 'UID FETCH BODY': fetchSome((m) => m.uid !== 2) } }),
  },
  {
    id: 'namespace-invalid-utf8',
    does: 'puts bytes that are not UTF-8 in the NAMESPACE answer',
    expected: 'no crash: the poll works or fails with one line',
    ends: 'normal',
    outcome: 'either',
    checkpoint: { onFailure: 'none', onSuccess: 3 },
    server: () => ({
      commands: {
        NAMESPACE: async (c) => {
          c.mark();
          await c.write(
            Buffer.concat([
              Buffer.from('* NAMESPACE (("" "/")("'),
              INVALID_UTF8,
              Buffer.from('/" "/")) (("'),
              INVALID_UTF8,
              Buffer.from(`" "/")) NIL\r\n${c.tag} OK done\r\n`),
            ]),
          );
        },
      },
    }),
  },
  {
    id: 'list-invalid-utf8',
    does: 'refuses EXAMINE INBOX (so that the client LISTs) and puts bytes that are not UTF-8 in LIST and LSUB',
    expected: 'no crash: a one-line error naming INBOX',
    ends: 'normal',
    outcome: 'fails',
    errorNames: [/INBOX/],
    checkpoint: { onFailure: 'none' },
    server: () => {
      // A poll of INBOX sends no LIST while EXAMINE works; a refused EXAMINE makes ImapFlow LIST to tell why.
      const listing =
        (kind: string): CommandHook =>
        async (c) => {
          c.mark();
          await c.write(
            Buffer.concat([
              Buffer.from(`* ${kind} (\\HasNoChildren) "/" INBOX\r\n* ${kind} (\\HasNoChildren) "/" "caf`),
              INVALID_UTF8,
              Buffer.from(`"\r\n${c.tag} OK done\r\n`),
            ]),
          );
        };
      return {
        commands: {
          EXAMINE: (c) => c.write(`${c.tag} NO [NONEXISTENT] no such mailbox\r\n`),
          LIST: listing('LIST'),
          LSUB: listing('LSUB'),
        },
      };
    },
  },
];
