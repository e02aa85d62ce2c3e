/**
 * The canary for `lib/imap/flow-internals.ts`: the installed ImapFlow still
 * offers every internal Postroom reads, on a real connected client, and
 * package.json allows only the versions this test has passed. When an
 * ImapFlow upgrade renames one, this fails here, naming it, rather than in a
 * poll.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { ImapFlow } from 'imapflow';
import { afterEach, describe, expect, it } from 'vitest';
import {
  borrowSocket,
  execCommand,
  holdProcessOpen,
  missingFlowInternals,
  pinOAuthMechanism,
  sendIdOnce,
  sessionIdle,
  socketClosing,
  TESTED_IMAPFLOW,
} from '#lib/imap/flow-internals.ts';

const servers: Server[] = [];
const clients: ImapFlow[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/**
 * Just enough IMAP for a login, NOOP and a raw FETCH: `capabilities` before
 * and after login, each AUTHENTICATE's mechanism pushed to `mechanisms`, every
 * command's verb to `verbs`. ID is answered with no fields (as Dovecot answers
 * it before login with one).
 */
async function tinyServer(
  capabilities = 'IMAP4rev1',
  mechanisms: string[] = [],
  verbs: string[] = [],
): Promise<number> {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    socket.write('* OK canary ready\r\n');
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const [tag, command, mechanism] = buffer.slice(0, end).split(' ');
        buffer = buffer.slice(end + 2);
        const verb = (command ?? '').toUpperCase();
        verbs.push(verb);
        if (verb === 'AUTHENTICATE') mechanisms.push(mechanism ?? '');
        if (verb === 'CAPABILITY') socket.write(`* CAPABILITY ${capabilities}\r\n${tag} OK done\r\n`);
        else if (verb === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
        else if (verb === 'UID') socket.write(`* 1 FETCH (UID 1 BODY[] {2}\r\nhi)\r\n${tag} OK done\r\n`);
        else socket.write(`${tag} OK done\r\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A plaintext client for a local scripted server, closed after the test. */
function flowClient(
  port: number,
  auth: { user: string; pass: string } | { user: string; accessToken: string },
) {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    auth,
    logger: false,
    disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

async function connected(): Promise<ImapFlow> {
  const client = flowClient(await tinyServer(), { user: 'u', pass: 'p' });
  await client.connect();
  return client;
}

describe('the ImapFlow internals Postroom relies on', () => {
  it('are all present on a connected client of the installed ImapFlow', async () => {
    // Prepare
    const client = await connected();
    // Act
    const missing = missingFlowInternals(client);
    // Assess
    expect(missing, 'ImapFlow no longer offers these internals: update lib/imap/flow-internals.ts').toEqual(
      [],
    );
  });

  it('are named when one is gone, as after an ImapFlow release that renamed it', async () => {
    // Prepare
    const client = await connected();
    const flow = client as unknown as Record<string, unknown>;
    const streamer = flow.streamer;
    // Act
    delete flow.streamer;
    flow.requestQueue = undefined;
    const missing = missingFlowInternals(client);
    flow.streamer = streamer;
    flow.requestQueue = [];
    // Assess
    expect(missing).toEqual(['streamer', 'requestQueue']);
  });

  it('work: a command through exec, and a FETCH on the borrowed socket handed back in step', async () => {
    // Prepare
    const client = await connected();
    expect(sessionIdle(client)).toBe(true);
    // Act
    await execCommand(client, 'NOOP', false);
    const borrowed = borrowSocket(client);
    const reply = await new Promise<string>((resolve) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (seen.includes('PR1 OK')) {
          borrowed.source.removeListener('data', onData);
          resolve(seen);
        }
      };
      borrowed.source.on('data', onData);
      borrowed.write('PR1 UID FETCH 1 (UID BODY.PEEK[])');
      borrowed.source.resume();
    });
    borrowed.giveBack([]);
    // ImapFlow reads the socket again: a command after the borrowed one is answered.
    await execCommand(client, 'NOOP', false);
    // Assess
    expect(reply).toContain('BODY[] {2}\r\nhi)');
    expect(sessionIdle(client)).toBe(true);
  });

  it('are only allowed from ImapFlow versions this canary has passed', () => {
    // Prepare
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const require = createRequire(import.meta.url);
    const installed = JSON.parse(readFileSync(require.resolve('imapflow/package.json'), 'utf8')).version;
    // Act
    const range = manifest.dependencies.imapflow;
    const [major, minor] = TESTED_IMAPFLOW.replace(/^~/, '').split('.');
    // Assess
    expect(range).toBe(TESTED_IMAPFLOW);
    expect(installed.startsWith(`${major}.${minor}.`)).toBe(true);
  });

  describe('the OAuth2 mechanism pin', () => {
    /** A server offering `auth` before login, recording each AUTHENTICATE's mechanism. */
    async function oauthServer(auth: string): Promise<{ port: number; mechanisms: string[] }> {
      const mechanisms: string[] = [];
      return { port: await tinyServer(`IMAP4rev1 SASL-IR ${auth}`, mechanisms), mechanisms };
    }

    function oauthClient(port: number, mechanism?: 'XOAUTH2' | 'OAUTHBEARER'): ImapFlow {
      const client = flowClient(port, { user: 'u', accessToken: 'token' });
      if (mechanism) pinOAuthMechanism(client, mechanism, 'canary');
      return client;
    }

    it('is needed: ImapFlow alone picks OAUTHBEARER where both are offered', async () => {
      const server = await oauthServer('AUTH=XOAUTH2 AUTH=OAUTHBEARER');
      await oauthClient(server.port).connect();
      expect(server.mechanisms).toEqual(['OAUTHBEARER']);
    });

    it.each(['XOAUTH2', 'OAUTHBEARER'] as const)('makes ImapFlow authenticate with %s', async (mechanism) => {
      const server = await oauthServer('AUTH=XOAUTH2 AUTH=OAUTHBEARER');
      await oauthClient(server.port, mechanism).connect();
      expect(server.mechanisms).toEqual([mechanism]);
    });

    it('fails in one line naming what the server offers when it lacks the mechanism', async () => {
      const server = await oauthServer('AUTH=PLAIN AUTH=XOAUTH2');
      const error = await oauthClient(server.port, 'OAUTHBEARER')
        .connect()
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'AUTH_FAILED',
        message:
          'account canary: the server does not offer AUTHENTICATE OAUTHBEARER (auth.method oauthbearer); it offers AUTH=PLAIN AUTH=XOAUTH2',
      });
      expect(server.mechanisms).toEqual([]);
    });
  });

  describe('ID once', () => {
    const idCount = (verbs: string[]) => verbs.filter((verb) => verb === 'ID').length;

    it('is needed: ImapFlow alone sends ID again after login when the first answer was short', async () => {
      const verbs: string[] = [];
      const client = flowClient(await tinyServer('IMAP4rev1 ID', [], verbs), { user: 'u', pass: 'p' });
      await client.connect();
      expect(idCount(verbs)).toBe(2);
    });

    it('makes ImapFlow send ID once, before login', async () => {
      const verbs: string[] = [];
      const client = flowClient(await tinyServer('IMAP4rev1 ID', [], verbs), { user: 'u', pass: 'p' });
      sendIdOnce(client);
      await client.connect();
      expect(idCount(verbs)).toBe(1);
      expect(verbs.indexOf('ID')).toBeLessThan(verbs.indexOf('LOGIN'));
    });
  });

  it('lets a socket stop keeping the process alive, and keep it alive again', async () => {
    const client = await connected();
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = sockets();
    holdProcessOpen(client, false);
    const released = sockets();
    holdProcessOpen(client, true);
    expect(released).toBe(before - 1);
    expect(sockets()).toBe(before);
  });

  it('waits for the socket as it was to close, after ImapFlow let go of it', async () => {
    const client = await connected();
    const socket = (client as unknown as { socket: { closed: boolean } }).socket;
    const closed = socketClosing(client);
    client.close();
    await closed(5_000);
    expect(socket.closed).toBe(true);
  });
});
