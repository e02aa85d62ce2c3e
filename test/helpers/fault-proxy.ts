/**
 * A TCP proxy on 127.0.0.1 that breaks the server → client stream on purpose:
 * it cuts, stalls or slows it at a byte offset counted over every connection
 * since the fault was armed. `imap-proxy.ts` counts commands and cuts; this
 * one adds the faults a flaky network makes (a stall that never ends, a link
 * at a few KB/s), for the fault-injection suite (`test/chaos/`).
 */
import { createServer, type Server, Socket } from 'node:net';

/** What to do to the server → client bytes. */
export type StreamFault =
  /** Forward `atByte` more bytes, then reset both sides of that connection. */
  | { kind: 'cut'; atByte: number }
  /** Forward `atByte` more bytes, then hold the rest for `ms` (Infinity: until the client gives up). */
  | { kind: 'stall'; atByte: number; ms: number }
  /** Forward at most `bytesPerSecond`, in pieces of `chunkBytes`, until disarmed. */
  | { kind: 'slow'; bytesPerSecond: number; chunkBytes: number };

export interface FaultProxy {
  host: string;
  /** The proxy's own port: point the client here. */
  port: number;
  /** Arms a fault (replacing any armed one); offsets count from now. */
  arm(fault: StreamFault): void;
  disarm(): void;
  /** Server → client bytes forwarded since the last `arm` (or since start). */
  forwarded(): number;
  /** How many times a cut or stall fired. */
  fired(): number;
  connections(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  queue: Buffer[];
  pumping: boolean;
  closed: boolean;
}

/** Past this many queued bytes the upstream socket is paused (backpressure through the proxy). */
const HIGH_WATER = 256 * 1024;

function assertLoopback(host: string): void {
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host))
    throw new Error(`refusing a non-loopback target: ${host}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  assertLoopback(target.host);
  const pairs = new Set<Pair>();
  let fault: StreamFault | undefined;
  let counted = 0;
  let firedCount = 0;
  let accepted = 0;

  const close = (pair: Pair) => {
    pair.closed = true;
    pair.queue.length = 0;
    pair.client.destroy();
    pair.upstream.destroy();
    pairs.delete(pair);
  };

  /** Waits `ms` (or forever), returning early once the pair is closed. */
  const hold = async (pair: Pair, ms: number) => {
    const until = Date.now() + (Number.isFinite(ms) ? ms : 24 * 3600_000);
    while (!pair.closed && Date.now() < until) await sleep(Math.min(50, until - Date.now()));
  };

  const pump = async (pair: Pair) => {
    if (pair.pumping) return;
    pair.pumping = true;
    try {
      while (!pair.closed && pair.queue.length > 0) {
        let chunk = pair.queue.shift()!;
        while (!pair.closed && chunk.length > 0) {
          const current = fault;
          if (current && (current.kind === 'cut' || current.kind === 'stall')) {
            const left = current.atByte - counted;
            if (left < chunk.length) {
              const head = chunk.subarray(0, Math.max(0, left));
              if (head.length > 0) pair.client.write(head);
              counted += head.length;
              chunk = chunk.subarray(head.length);
              fault = undefined;
              firedCount++;
              if (current.kind === 'cut') {
                // Let the partial data reach the client before the reset.
                pair.client.end(() => close(pair));
                pair.upstream.destroy();
                return;
              }
              await hold(pair, current.ms);
              continue;
            }
          }
          if (current?.kind === 'slow') {
            const piece = chunk.subarray(0, Math.max(1, current.chunkBytes));
            pair.client.write(piece);
            counted += piece.length;
            chunk = chunk.subarray(piece.length);
            await sleep((piece.length / Math.max(1, current.bytesPerSecond)) * 1000);
            continue;
          }
          pair.client.write(chunk);
          counted += chunk.length;
          chunk = chunk.subarray(chunk.length);
        }
        if (queuedBytes(pair) < HIGH_WATER) pair.upstream.resume();
      }
    } finally {
      pair.pumping = false;
    }
  };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = new Socket();
    const pair: Pair = { client, upstream, queue: [], pumping: false, closed: false };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      pair.queue.push(chunk);
      if (queuedBytes(pair) >= HIGH_WATER) upstream.pause();
      void pump(pair);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => close(pair));
      socket.on('close', () => {
        // The server closing (BYE, LOGOUT) must still deliver what is queued.
        if (socket === upstream && (pair.queue.length > 0 || pair.pumping) && !pair.closed) {
          const wait = setInterval(() => {
            if (pair.queue.length === 0 && !pair.pumping) {
              clearInterval(wait);
              close(pair);
            } else if (pair.closed) clearInterval(wait);
          }, 20);
          return;
        }
        close(pair);
      });
    }
    upstream.connect(target.port, target.host);
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
    arm(next) {
      fault = next;
      counted = 0;
    },
    disarm() {
      fault = undefined;
    },
    forwarded: () => counted,
    fired: () => firedCount,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of [...pairs]) close(pair);
        server.close(() => resolve());
      }),
  };
}

function queuedBytes(pair: Pair): number {
  let total = 0;
  for (const chunk of pair.queue) total += chunk.length;
  return total;
}
