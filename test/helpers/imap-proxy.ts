/**
 * A TCP proxy on 127.0.0.1 in front of a plain-IMAP listener, for asserting
 * what a client sent ("no FETCH or SEARCH on an empty poll", "no STARTTLS with
 * `tls: false`") and for breaking connections on purpose (a connection dropped
 * in the middle of a FETCH).
 *
 * Client commands are recognised by their tagged lines (`A1 UID FETCH 1:* ...`
 * counts as `UID FETCH`); literal payloads (`{123}` / `{123+}`, RFC 3501 4.3 and
 * RFC 7888) are skipped, and so is everything after a STARTTLS (encrypted).
 */
import { createServer, type Server, Socket } from 'node:net';

export interface ImapProxyOptions {
  /** Where to forward to (a loopback address). */
  host: string;
  port: number;
}

/** Drop rule: after a client command (optional), cut the connection after N more bytes from the server. */
export interface DropRule {
  /** Server → client bytes to forward before cutting. */
  afterServerBytes: number;
  /** Start counting only once the client sent this command (e.g. `UID FETCH`). @default count from now */
  afterCommand?: string;
  /** Cut only the next connection that reaches the threshold (true), or all. @default true */
  once?: boolean;
}

export interface ImapProxy {
  host: string;
  /** The proxy's own port: point the client here. */
  port: number;
  /** Every command name seen so far, in order, over all connections (`LOGIN`, `UID FETCH`, ...). */
  commands(): string[];
  /** How many times a command was seen (case-insensitive, `UID FETCH` style). */
  count(command: string): number;
  /** Forgets the commands seen so far. */
  reset(): void;
  /** Arms a drop rule for current and future connections. */
  dropAfter(rule: DropRule): void;
  /** How many connections were cut by a drop rule. */
  drops(): number;
  /** Destroys every open connection now. */
  dropAll(): void;
  /** Connections accepted so far. */
  connections(): number;
  /** Connections open now. */
  openConnections(): number;
  /** The most connections that were open at once. */
  peakConnections(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  /** Bytes of the server→client stream forwarded since the rule started counting for this pair. */
  counted: number;
  counting: boolean;
}

function assertLoopback(host: string): void {
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host))
    throw new Error(`refusing a non-loopback IMAP target: ${host}`);
}

/** Parses tagged client lines out of a byte stream, skipping literals. */
class CommandParser {
  private pending = '';
  private literal = 0;
  /** Set after STARTTLS: what follows is TLS, not IMAP text. */
  encrypted = false;
  /** Whether the next line continues a command (after a literal) rather than starting one. */
  private continuing = false;

  constructor(private readonly onCommand: (name: string) => void) {}

  push(chunk: Buffer): void {
    if (this.encrypted) return;
    let pos = 0;
    while (pos < chunk.length && !this.encrypted) {
      if (this.literal > 0) {
        const take = Math.min(this.literal, chunk.length - pos);
        this.literal -= take;
        pos += take;
        continue;
      }
      const newline = chunk.indexOf(0x0a, pos);
      if (newline < 0) {
        this.pending += chunk.toString('latin1', pos);
        return;
      }
      const line = (this.pending + chunk.toString('latin1', pos, newline)).replace(/\r$/, '');
      this.pending = '';
      pos = newline + 1;
      this.line(line);
    }
  }

  private line(line: string): void {
    const literal = /\{(\d+)\+?\}$/.exec(line);
    if (!this.continuing) {
      // `tag SP command [SP args]`; a lone token is a continuation response (SASL, DONE).
      const match = /^(\S+) (UID )?([A-Za-z]+)\b/i.exec(line);
      if (match) {
        const name = `${match[2] ? 'UID ' : ''}${match[3]!}`.toUpperCase();
        this.onCommand(name);
        if (name === 'STARTTLS') this.encrypted = true;
      }
    }
    this.continuing = literal !== null;
    if (literal) this.literal = Number(literal[1]);
  }
}

/** Starts a proxy on a free 127.0.0.1 port. */
export async function startImapProxy(options: ImapProxyOptions): Promise<ImapProxy> {
  assertLoopback(options.host);
  const seen: string[] = [];
  const pairs = new Set<Pair>();
  let accepted = 0;
  let dropped = 0;
  let peak = 0;
  let rule: (DropRule & { armedAt: number }) | undefined;

  const cut = (pair: Pair) => {
    dropped++;
    pair.client.destroy();
    pair.server.destroy();
    if (rule?.once !== false) rule = undefined;
  };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = new Socket();
    const pair: Pair = {
      client,
      server: upstream,
      counted: 0,
      counting: rule !== undefined && rule.afterCommand === undefined,
    };
    pairs.add(pair);
    peak = Math.max(peak, pairs.size);
    const parser = new CommandParser((name) => {
      seen.push(name);
      if (rule?.afterCommand && name === rule.afterCommand.toUpperCase() && !pair.counting) {
        pair.counting = true;
        pair.counted = 0;
      }
    });
    client.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (rule && pair.counting) {
        const left = rule.afterServerBytes - pair.counted;
        if (chunk.length >= left) {
          if (left > 0) client.write(chunk.subarray(0, left));
          // Let the partial data reach the client before the reset.
          client.end(() => cut(pair));
          upstream.destroy();
          return;
        }
        pair.counted += chunk.length;
      }
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    upstream.connect(options.port, options.host);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    host: '127.0.0.1',
    port,
    commands: () => [...seen],
    count: (command) => seen.filter((name) => name === command.toUpperCase()).length,
    reset: () => {
      seen.length = 0;
    },
    dropAfter(next) {
      rule = { ...next, armedAt: Date.now() };
      for (const pair of pairs) {
        pair.counting = next.afterCommand === undefined;
        pair.counted = 0;
      }
    },
    drops: () => dropped,
    dropAll() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
    },
    connections: () => accepted,
    openConnections: () => pairs.size,
    peakConnections: () => peak,
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.server.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
