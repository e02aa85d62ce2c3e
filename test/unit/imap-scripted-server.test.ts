/**
 * Protocol edge cases Dovecot never produces, against a scripted in-process IMAP
 * server on loopback: UID after the body literal, bodies split into tiny TCP
 * chunks, unsolicited responses inside a FETCH reply, a tagged NO, a BYE or
 * silence in the middle of a FETCH, and a server that leaves UIDNEXT out of
 * its EXAMINE reply.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import { ImapError } from '#lib/errors.ts';
import { joinHeld } from '#lib/held-bytes.ts';
import { connectMailServer } from '#lib/imap/connect.ts';
import type { HeldBytes } from '#lib/ports.ts';

type Reply = (tag: string, args: string, socket: Socket) => void;

interface Scripted {
  port: number;
  commands: string[];
  close(): Promise<void>;
}

const servers: Scripted[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** A minimal IMAP server: enough for ImapFlow to log in, plus per-test replies. */
async function scripted(
  replies: Record<string, Reply>,
  options: { uidNext?: boolean } = {},
): Promise<Scripted> {
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const defaults: Record<string, Reply> = {
    CAPABILITY: (tag, _args, socket) =>
      socket.write(`* CAPABILITY IMAP4rev1 NAMESPACE UIDPLUS\r\n${tag} OK done\r\n`),
    LOGIN: (tag, _args, socket) =>
      socket.write(`${tag} OK [CAPABILITY IMAP4rev1 NAMESPACE UIDPLUS] Logged in\r\n`),
    NAMESPACE: (tag, _args, socket) => socket.write(`* NAMESPACE (("" "/")) NIL NIL\r\n${tag} OK done\r\n`),
    LIST: (tag, _args, socket) => socket.write(`* LIST (\\HasNoChildren) "/" INBOX\r\n${tag} OK done\r\n`),
    LSUB: (tag, _args, socket) => socket.write(`${tag} OK done\r\n`),
    EXAMINE: (tag, _args, socket) =>
      socket.write(
        `* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n${options.uidNext === false ? '' : '* OK [UIDNEXT 4] ok\r\n'}${tag} OK [READ-ONLY] done\r\n`,
      ),
    STATUS: (tag, _args, socket) =>
      socket.write(`* STATUS INBOX (UIDNEXT 4 UIDVALIDITY 7)\r\n${tag} OK done\r\n`),
    CLOSE: (tag, _args, socket) => socket.write(`${tag} OK done\r\n`),
    LOGOUT: (tag, _args, socket) => socket.end(`* BYE bye\r\n${tag} OK done\r\n`),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('* OK scripted ready\r\n');
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      let index = buffer.indexOf('\r\n');
      while (index >= 0) {
        const line = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        const match = /^(\S+) (UID )?(\S+) ?(.*)$/.exec(line);
        if (match) {
          const name = `${match[2] ?? ''}${match[3]!.toUpperCase()}`;
          commands.push(name);
          const reply = replies[name] ?? defaults[name];
          if (reply) reply(match[1]!, match[4] ?? '', socket);
          else socket.write(`${match[1]} BAD unknown command\r\n`);
        }
        index = buffer.indexOf('\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const handle: Scripted = {
    port: typeof address === 'object' && address ? address.port : 0,
    commands,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

function account(port: number, limits?: AccountConfig['limits']): AccountConfig {
  return {
    ...(limits ? { limits } : {}),
    id: 'scripted',
    host: '127.0.0.1',
    port,
    tls: false,
    auth: { user: 'u', password: { env: 'X' }, method: 'login' },
    mailboxes: ['INBOX'],
    start: 'all',
    schedule: 'rate(5 minutes)',
    idle: false,
  };
}

const body = (uid: number, size: number) => Buffer.alloc(size, 97 + (uid % 26));

async function collect(source: Readable | HeldBytes): Promise<Buffer> {
  if (!(source instanceof Readable)) return Buffer.from(joinHeld(source));
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('fast fetch path against unusual servers', () => {
  it('matches bodies to UIDs that come after the literal, also when split into tiny chunks', async () => {
    // Prepare
    const server = await scripted({
      'UID FETCH': (tag, _args, socket) => {
        const parts = [1, 2, 3].map((uid) =>
          Buffer.concat([
            Buffer.from(`* ${uid} FETCH (BODY[] {${100 + uid}}\r\n`),
            body(uid, 100 + uid),
            Buffer.from(` UID ${uid * 10})\r\n`),
          ]),
        );
        const all = Buffer.concat([...parts, Buffer.from(`${tag} OK done\r\n`)]);
        // One byte at a time in the first half, then the rest at once.
        let offset = 0;
        const step = () => {
          if (offset < all.length / 2) {
            socket.write(all.subarray(offset, offset + 1));
            offset++;
            setImmediate(step);
          } else socket.write(all.subarray(offset));
        };
        step();
      },
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.examine('INBOX');
    const got: [number, number][] = [];
    // Act
    await session.fetchSources([10, 20, 30], new Map(), async (uid, source) => {
      const bytes = await collect(source);
      expect(bytes.equals(body(uid / 10, 100 + uid / 10))).toBe(true);
      got.push([uid, bytes.length]);
    });
    // Assess
    expect(got).toEqual([
      [10, 101],
      [20, 102],
      [30, 103],
    ]);
    await session.logout();
  });

  it('hands a small body that spans socket reads on as views of those reads, not a copy', async () => {
    // Prepare: each body split in two writes 40 ms apart, so the client reads them separately.
    const first = Buffer.from('Subject: split\r\nFrom: a@example.com\r\n\r\nfirst half, ');
    const second = Buffer.from('second half\r\n');
    const size = first.length + second.length;
    const server = await scripted({
      'UID FETCH': (tag, _args, socket) => {
        socket.write(Buffer.concat([Buffer.from(`* 1 FETCH (UID 7 BODY[] {${size}}\r\n`), first]));
        setTimeout(() => socket.write(Buffer.concat([second, Buffer.from(`)\r\n${tag} OK done\r\n`)])), 40);
      },
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.examine('INBOX');
    const got: (Readable | HeldBytes)[] = [];
    // Act
    await session.fetchSources([7], new Map(), async (_uid, source) => {
      got.push(source);
    });
    // Assess
    expect(got).toHaveLength(1);
    const pieces = got[0] as Uint8Array[];
    expect(Array.isArray(pieces)).toBe(true);
    expect(pieces.map((piece) => Buffer.from(piece).toString())).toEqual([
      first.toString(),
      second.toString(),
    ]);
    // Views into the socket's own read buffers: each is shorter than the read it came from.
    for (const piece of pieces) expect(piece.buffer.byteLength).toBeGreaterThan(piece.byteLength);
    expect(Buffer.from(joinHeld(pieces)).equals(Buffer.concat([first, second]))).toBe(true);
    await session.logout();
  });

  it('passes unsolicited responses on to ImapFlow and keeps the session in step', async () => {
    // Prepare
    const server = await scripted({
      'UID FETCH': (tag, _args, socket) =>
        socket.write(
          `* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n* 4 EXISTS\r\n* 2 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (UID 2 BODY[] {5}\r\nworld)\r\n${tag} OK done\r\n`,
        ),
      'UID SEARCH': (tag, _args, socket) => socket.write(`* SEARCH 1 2 4\r\n${tag} OK done\r\n`),
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.examine('INBOX');
    const got: string[] = [];
    // Act
    await session.fetchSources([1, 2], new Map(), async (_uid, source) => {
      got.push((await collect(source)).toString());
    });
    const newer = await session.searchNewerThan(1);
    // Assess
    expect(got).toEqual(['hello', 'world']);
    expect(newer).toEqual([2, 4]);
    await session.logout();
  });

  it('reads batch metadata on the fast path, leaving unsolicited updates to ImapFlow', async () => {
    // Prepare
    const server = await scripted({
      'UID FETCH': (tag, args, socket) =>
        socket.write(
          args.includes('BODY')
            ? `${tag} BAD not expected\r\n`
            : '* 2 FETCH (FLAGS (\\Seen $Done) UID 20 INTERNALDATE "02-Jan-2026 10:00:00 +0200" RFC822.SIZE 222)\r\n' +
                '* 5 EXISTS\r\n* 1 FETCH (UID 10 FLAGS (\\Deleted))\r\n' +
                '* 1 FETCH (UID 10 RFC822.SIZE 111 INTERNALDATE " 1-Jan-2026 00:00:00 +0000" FLAGS ())\r\n' +
                `${tag} OK done\r\n`,
        ),
      'UID SEARCH': (tag, _args, socket) => socket.write(`* SEARCH 10 20 50\r\n${tag} OK done\r\n`),
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.examine('INBOX');
    // Act
    const metas = await session.fetchMeta([10, 20]);
    const newer = await session.searchNewerThan(10);
    // Assess
    expect(metas).toEqual([
      { uid: 10, size: 111, internalDate: new Date('2026-01-01T00:00:00.000Z'), flags: [] },
      { uid: 20, size: 222, internalDate: new Date('2026-01-02T08:00:00.000Z'), flags: ['\\Seen', '$Done'] },
    ]);
    expect(newer).toEqual([20, 50]);
    await session.logout();
  });

  it('turns a tagged NO into COMMAND_FAILED with the server text', async () => {
    // Prepare
    const server = await scripted({
      'UID FETCH': (tag, _args, socket) => socket.write(`${tag} NO [SERVERBUG] Internal error occurred\r\n`),
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.examine('INBOX');
    // Act
    const error = await session
      .fetchSources([1], new Map(), async () => undefined)
      .catch((reason: unknown) => reason);
    // Assess
    expect(error).toBeInstanceOf(ImapError);
    expect((error as ImapError).code).toBe('COMMAND_FAILED');
    expect((error as ImapError).message).toContain('Internal error occurred');
    await session.logout();
  });

  it('rejects with CONNECTION_LOST on a BYE in the middle of a FETCH', async () => {
    // Prepare
    const server = await scripted({
      'UID FETCH': (_tag, _args, socket) =>
        socket.end('* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n* BYE shutting down\r\n'),
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.examine('INBOX');
    // Act
    const error = await session
      .fetchSources([1, 2], new Map(), async () => undefined)
      .catch((reason: unknown) => reason);
    // Assess
    expect((error as ImapError).code).toBe('CONNECTION_LOST');
    expect(session.closed).toBe(true);
  });

  it('rejects with IMAP_STALLED, naming the FETCH and the mailbox, when the server falls silent in the middle of it', async () => {
    // Prepare
    const server = await scripted({
      'UID FETCH': (_tag, _args, socket) => socket.write('* 1 FETCH (UID 1 BODY[] {50}\r\nonly part of it'),
    });
    const session = await connectMailServer(account(server.port, { stallSeconds: 0.4 }), { password: 'p' });
    await session.examine('INBOX');
    // Act
    const error = await session
      .fetchSources([1], new Map(), async (_uid, source) => {
        await collect(source);
      })
      .catch((reason: unknown) => reason);
    // Assess
    expect((error as ImapError).code).toBe('IMAP_STALLED');
    expect((error as ImapError).message).toMatch(
      /^account scripted: no answer from the server for 0\.\d s during UID FETCH 1 \(BODY\.PEEK\[\]\) in "INBOX"$/,
    );
    expect(session.closed).toBe(true);
  });
});

describe('EXAMINE without UIDNEXT', () => {
  it('asks STATUS for UIDNEXT, but only while the mailbox is not selected', async () => {
    // Prepare
    const server = await scripted({}, { uidNext: false });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    // Act
    const first = await session.examine('INBOX');
    const second = await session.examine('INBOX');
    await session.logout();
    // Assess
    expect(first).toMatchObject({ uidNext: 4, uidValidity: 7, exists: 3 });
    expect(second.uidNext).toBe(4);
    const sequence = server.commands.filter((name) => ['EXAMINE', 'STATUS', 'CLOSE'].includes(name));
    // First time: EXAMINE (no UIDNEXT), leave it, STATUS, EXAMINE again; then STATUS first.
    expect(sequence).toEqual(['EXAMINE', 'CLOSE', 'STATUS', 'EXAMINE', 'STATUS', 'EXAMINE']);
  });
});

describe('folder targets on a server with an INBOX. namespace', () => {
  it('copies and moves to the special-use folder LIST named, without mapping its name again', async () => {
    // Prepare: personal namespace `INBOX.` with `.` as delimiter, and a Junk
    // folder whose own name holds a `/`, which a second mapping would turn into a hierarchy.
    const targets: string[] = [];
    const server = await scripted({
      LOGIN: (tag, _args, socket) =>
        socket.write(`${tag} OK [CAPABILITY IMAP4rev1 NAMESPACE UIDPLUS SPECIAL-USE] Logged in\r\n`),
      NAMESPACE: (tag, _args, socket) =>
        socket.write(`* NAMESPACE (("INBOX." ".")) NIL NIL\r\n${tag} OK done\r\n`),
      LIST: (tag, _args, socket) =>
        socket.write(
          `* LIST (\\HasNoChildren) "." INBOX\r\n* LIST (\\HasNoChildren \\Junk) "." "INBOX.Spam/Junk"\r\n${tag} OK done\r\n`,
        ),
      SELECT: (tag, _args, socket) =>
        socket.write(
          `* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 4] ok\r\n${tag} OK [READ-WRITE] done\r\n`,
        ),
      'UID COPY': (tag, args, socket) => {
        targets.push(args);
        socket.write(`${tag} OK done\r\n`);
      },
      'UID STORE': (tag, _args, socket) => socket.write(`${tag} OK done\r\n`),
      'UID EXPUNGE': (tag, _args, socket) => socket.write(`${tag} OK done\r\n`),
    });
    const session = await connectMailServer(account(server.port), { password: 'p' });
    await session.select('INBOX');
    // Act
    const junk = await session.resolveFolder({ specialUse: '\\Junk' }, { create: false });
    await session.copy([1], junk!);
    const moved = await session.move([2], junk!);
    await session.logout();
    // Assess: the server has no MOVE, so the move is COPY + \Deleted + UID EXPUNGE, to the same folder.
    expect(junk).toBe('INBOX.Spam/Junk');
    expect(targets).toEqual(['1 "INBOX.Spam/Junk"', '2 "INBOX.Spam/Junk"']);
    expect(moved).toMatchObject({ expunged: true, method: 'copy+expunge' });
  });
});
