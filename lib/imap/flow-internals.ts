/**
 * The one place that touches ImapFlow beyond its documented API.
 *
 * Postroom needs five things ImapFlow does not offer publicly: its command
 * runner (`exec`, the only way to see every tagged NO/BAD and every untagged
 * response of a command), its mailbox-name encoder, its folder cache (seeded
 * so that EXAMINE costs no LIST round trips), its socket, borrowed between
 * two commands for the body fetch (`raw-fetch.ts`) and watched for the stall
 * detector (and unref'd while a pooled session waits, so that it does not keep
 * the process alive), and its `run` with the capability map, to pick the OAuth2
 * SASL mechanism the config names and to send ID once. Each is named in `FLOW_INTERNALS`; `missingFlowInternals` checks
 * a connected client for all of them, a session refuses to start without
 * them, and `test/unit/imap-flow-internals.test.ts` is the canary that fails
 * when an ImapFlow release stops offering one. package.json allows only the
 * ImapFlow versions that canary has passed.
 */
import type { Readable, Writable } from 'node:stream';
import type { ImapFlow } from 'imapflow';
import { encodePath } from 'imapflow/lib/tools.js';
import { imapError } from './errors.ts';

/** ImapFlow versions the canary test has passed (package.json's range says the same). */
export const TESTED_IMAPFLOW = '~2.10.2';

/** A parsed untagged response as ImapFlow's `exec` hands it over. */
export interface Untagged {
  command?: string;
  attributes?: { type?: string; value?: unknown; section?: unknown[] }[];
  numbers?: number[];
}

export type UntaggedHandlers = Record<string, (untagged: Untagged) => Promise<void>>;

type WatchedSocket = Readable & {
  destroyed?: boolean;
  ref?: () => void;
  unref?: () => void;
  setTimeout?: (ms: number) => void;
  isPaused(): boolean;
};

interface Internals {
  exec(
    command: string,
    attributes: unknown[] | false,
    options?: { untagged?: UntaggedHandlers },
  ): Promise<{ response: Untagged; next: () => void }>;
  socket?: WatchedSocket | false | null;
  _inflate?: Readable | null | false;
  streamer?: Writable;
  write?: (chunk: string) => void;
  currentRequest?: unknown;
  requestQueue?: unknown[];
  folders?: Map<string, unknown>;
  armSocketTimeout?: (socket: unknown) => void;
  socketTimeout?: number;
  run?: (command: string, ...args: unknown[]) => Promise<unknown>;
  capabilities?: Map<string, unknown>;
}

const inner = (client: ImapFlow) => client as unknown as Internals;

/** What Postroom reads of ImapFlow's insides, with the check for each. */
const FLOW_INTERNALS: Record<string, (flow: Internals) => boolean> = {
  exec: (flow) => typeof flow.exec === 'function',
  socket: (flow) =>
    !!flow.socket && typeof flow.socket.pipe === 'function' && typeof flow.socket.unpipe === 'function',
  streamer: (flow) => !!flow.streamer && typeof flow.streamer.write === 'function',
  write: (flow) => typeof flow.write === 'function',
  requestQueue: (flow) => Array.isArray(flow.requestQueue),
  currentRequest: (flow) => 'currentRequest' in flow,
  folders: (flow) => flow.folders instanceof Map,
  armSocketTimeout: (flow) => typeof flow.armSocketTimeout === 'function',
  encodePath: () => typeof encodePath === 'function',
  run: (flow) => typeof flow.run === 'function',
  'socket.unref': (flow) => !!flow.socket && typeof flow.socket.unref === 'function',
  capabilities: (flow) => flow.capabilities instanceof Map,
};

/** The internals a connected client lacks (empty when this ImapFlow is one Postroom works with). */
export function missingFlowInternals(client: ImapFlow): string[] {
  const flow = inner(client);
  return Object.entries(FLOW_INTERNALS)
    .filter(([, present]) => !present(flow))
    .map(([name]) => name);
}

/** Runs one command through ImapFlow's queue, seeing its untagged responses and tagged answer. */
export async function execCommand(
  client: ImapFlow,
  command: string,
  attributes: unknown[] | false,
  untagged?: UntaggedHandlers,
): Promise<Untagged> {
  const result = await inner(client).exec(command, attributes, untagged ? { untagged } : undefined);
  result.next();
  return result.response;
}

/** A server mailbox name as a command argument (modified UTF-7, or UTF-8 where enabled). */
export function encodeMailboxPath(client: ImapFlow, path: string): string {
  return encodePath(client, path);
}

/**
 * ImapFlow LISTs a folder before its first SELECT or EXAMINE in a session,
 * only to label the result with the delimiter and special-use flags. Postroom
 * knows the delimiter from NAMESPACE and looks special-use folders up itself,
 * so it seeds the cache; a missing folder is still found out, since a refused
 * SELECT makes ImapFlow LIST.
 */
export function seedFolderCache(client: ImapFlow, path: string, delimiter: string): void {
  const folders = inner(client).folders;
  if (folders && !folders.has(path)) {
    folders.set(path, { path, delimiter, listed: true, flags: new Set<string>() });
  }
}

/** The socket a session reads from, for borrowing it and for the stall detector. */
export interface BorrowedSocket {
  /** What the bytes come out of (the socket, or its inflate stream under COMPRESS). */
  source: Readable;
  /** The socket itself, for close and error events. */
  socket: Readable;
  /** Sends one command line. */
  write(line: string): void;
  /** Hands the socket back to ImapFlow, with responses read meanwhile that it should still see. */
  giveBack(unread: readonly Buffer[]): void;
}

/** True when no ImapFlow command is in flight or queued (the socket may be borrowed). */
export function sessionIdle(client: ImapFlow): boolean {
  const flow = inner(client);
  return (
    client.usable &&
    !client.idling &&
    !!flow.socket &&
    !flow.socket.destroyed &&
    !flow.currentRequest &&
    (flow.requestQueue?.length ?? 1) === 0
  );
}

/** Takes the socket away from ImapFlow's parser until `giveBack`. Call only when `sessionIdle`. */
export function borrowSocket(client: ImapFlow): BorrowedSocket {
  const flow = inner(client);
  const socket = flow.socket as WatchedSocket;
  const streamer = flow.streamer!;
  const source: Readable = flow._inflate || socket;
  source.unpipe(streamer);
  // ImapFlow's inactivity timer would fire while we read; the caller watches instead.
  socket.setTimeout?.(0);
  return {
    source,
    socket,
    write: (line) => flow.write!(line),
    giveBack: (unread) => {
      for (const buffer of unread) streamer.write(buffer);
      source.pipe(streamer);
      flow.armSocketTimeout?.(socket);
    },
  };
}

/**
 * Calls `onBytes` for every chunk the server sends, from the moment the
 * socket exists (it appears during connect). Returns a function that says
 * whether reading is paused on our side (backpressure: the quiet is ours, not
 * the server's) and one that stops watching.
 */
export function watchServerBytes(
  client: ImapFlow,
  onBytes: () => void,
): { paused(): boolean; attach(): boolean; stop(): void } {
  let watched: WatchedSocket | undefined;
  return {
    attach() {
      if (watched) return true;
      const socket = inner(client).socket;
      if (!socket) return false;
      watched = socket;
      // A 'data' listener beside ImapFlow's pipe sees the same chunks without
      // changing the flow: the pipe already keeps the socket flowing.
      watched.on('data', onBytes);
      return true;
    },
    paused: () => !!watched && watched.isPaused(),
    stop() {
      watched?.removeListener('data', onBytes);
      watched = undefined;
    },
  };
}

/** The SASL mechanisms that carry an OAuth2 bearer token, and the capability names that offer each. */
const OAUTH_CAPABILITIES = {
  XOAUTH2: ['AUTH=XOAUTH2', 'AUTH=XOAUTH'],
  OAUTHBEARER: ['AUTH=OAUTHBEARER'],
} as const;

/**
 * Makes ImapFlow authenticate with `mechanism`. Given an access token, it picks
 * OAUTHBEARER whenever the server offers it and XOAUTH2 otherwise, with no
 * option to choose (`commands/authenticate`); `auth.method` is the user's
 * choice. So just before AUTHENTICATE the other mechanism is taken out of the
 * capability map (CAPABILITY is read again after login), and a server that
 * does not offer `mechanism` fails with one line saying what it does offer.
 */
export function pinOAuthMechanism(
  client: ImapFlow,
  mechanism: 'XOAUTH2' | 'OAUTHBEARER',
  account: string,
): void {
  const flow = inner(client);
  const run = flow.run;
  if (typeof run !== 'function') return;
  flow.run = async (command: string, ...args: unknown[]) => {
    const capabilities = flow.capabilities;
    if (command === 'AUTHENTICATE' && capabilities instanceof Map) {
      const wanted = OAUTH_CAPABILITIES[mechanism];
      if (!wanted.some((name) => capabilities.has(name))) {
        const offered =
          [...capabilities.keys()].filter((name) => name.startsWith('AUTH=')).join(' ') || 'none';
        throw imapError(
          'AUTH_FAILED',
          account,
          `the server does not offer AUTHENTICATE ${mechanism} (auth.method ${mechanism.toLowerCase()}); it offers ${offered}`,
          { retryable: false },
        );
      }
      const other = mechanism === 'XOAUTH2' ? OAUTH_CAPABILITIES.OAUTHBEARER : OAUTH_CAPABILITIES.XOAUTH2;
      for (const name of other) capabilities.delete(name);
    }
    return run.call(client, command, ...args);
  };
}

/**
 * Sends ID (RFC 2971) at most once per connection. ImapFlow sends it before
 * authenticating and again after, when the server's first answer had fewer
 * than two fields, only to learn more about the server, which Postroom does
 * not use; the second one is a round trip on every session. The repeat is
 * answered from the first answer instead of the wire.
 */
export function sendIdOnce(client: ImapFlow): void {
  const flow = inner(client);
  const run = flow.run;
  if (typeof run !== 'function') return;
  let sent: { answer: unknown } | undefined;
  flow.run = async function (this: unknown, command: string, ...args: unknown[]) {
    if (command !== 'ID') return run.call(this, command, ...args);
    if (sent) return sent.answer;
    const answer = await run.call(this, command, ...args);
    sent = { answer };
    return answer;
  };
}

/**
 * Whether the connection keeps the process alive. A pooled session waiting
 * for its next use must not: `postroom` commands exit when their work is
 * done, whatever the pool still holds.
 */
export function holdProcessOpen(client: ImapFlow, hold: boolean): void {
  const socket = inner(client).socket;
  if (!socket) return;
  if (hold) socket.ref?.();
  else socket.unref?.();
}

/**
 * Returns a function that resolves once the connection's socket (as it is
 * now) has closed, or after `timeoutMs`. A connection budget counts a
 * connection until then: the server may see it until its socket is gone.
 */
export function socketClosing(client: ImapFlow): (timeoutMs: number) => Promise<void> {
  const socket = inner(client).socket as (WatchedSocket & { closed?: boolean }) | false | null | undefined;
  return (timeoutMs) =>
    new Promise<void>((resolve) => {
      if (!socket || socket.closed) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
}
