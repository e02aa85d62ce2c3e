/**
 * Connecting and logging in against the private Dovecot: TLS verification,
 * STARTTLS policy, plaintext, authentication methods, and what errors say (and
 * never say).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapError } from '#lib/errors.ts';
import { connectMailServer } from '#lib/imap/connect.ts';
import { POSTROOM_VERSION } from '#lib/version.ts';
import { type DovecotInfo, dovecotInfo, freshUser, type TestUser, testAccount } from '../helpers/dovecot.ts';
import { type ImapProxy, startImapProxy } from '../helpers/imap-proxy.ts';

let dovecot: DovecotInfo;
let user: TestUser;

beforeAll(() => {
  dovecot = dovecotInfo();
  user = freshUser(dovecot, 'conn');
});

async function connectError(promise: Promise<unknown>): Promise<ImapError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ImapError);
  return error as ImapError;
}

describe('TLS', () => {
  it('connects over implicit TLS when the CA file vouches for the certificate', async () => {
    // Prepare
    const account = testAccount(dovecot, user);
    // Act
    const server = await connectMailServer(account, { password: user.password });
    // Assess
    expect(server.capabilities.has('IMAP4REV1')).toBe(true);
    await server.logout();
  });

  it('fails with a TLS error naming the problem when the certificate is not trusted', async () => {
    // Prepare: same server, no CA file, verification on
    const account = { ...testAccount(dovecot, user), tlsOptions: { rejectUnauthorized: true } };
    // Act
    const error = await connectError(connectMailServer(account, { password: user.password }));
    // Assess
    expect(error.code).toBe('TLS_FAILED');
    expect(error.message).toMatch(/^account test: TLS failed: .*self-signed certificate/);
  });

  it('upgrades with STARTTLS when asked to and the server offers it', async () => {
    // Prepare
    const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
    const account = { ...testAccount(dovecot, user, { tls: 'starttls' }), port: proxy.port };
    // Act
    const server = await connectMailServer(account, { password: user.password });
    // Assess: STARTTLS was the last command the proxy could read in the clear
    expect(proxy.commands()).toContain('STARTTLS');
    expect(proxy.commands()).not.toContain('LOGIN');
    await server.logout();
    await proxy.close();
  });

  it('refuses to continue in plaintext when starttls is required but not offered', async () => {
    // Prepare
    const account = {
      ...testAccount(dovecot, user, { tls: 'starttls' }),
      port: dovecot.ports.plainOnly!.imap,
    };
    const traced: string[] = [];
    // Act
    const error = await connectError(
      connectMailServer(account, { password: user.password, trace: (line) => traced.push(line) }),
    );
    // Assess
    expect(error.code).toBe('STARTTLS_UNAVAILABLE');
    expect(error.message).toMatch(/^account test: server 127\.0\.0\.1:\d+ does not offer STARTTLS/);
    expect(traced.some((line) => /^C: \S+ (LOGIN|AUTHENTICATE)\b/.test(line))).toBe(false);
  });

  it('says a port answered in plaintext when TLS is spoken to it, and what to set instead', async () => {
    // Prepare: implicit TLS (the default) against the plaintext port
    const account = { ...testAccount(dovecot, user), port: dovecot.ports.full.imap };
    // Act
    const error = await connectError(connectMailServer(account, { password: user.password }));
    // Assess
    expect(error.code).toBe('TLS_FAILED');
    expect(error.message).toBe(
      `account test: port ${dovecot.ports.full.imap} of ${dovecot.host} answered in plaintext, not TLS: use tls: starttls for a port that offers STARTTLS (usually 143), or tls: false on loopback (ERR_SSL_WRONG_VERSION_NUMBER)`,
    );
  });

  it('names Postroom and its version in ID, not the IMAP library', async () => {
    // Prepare
    const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
    const account = { ...testAccount(dovecot, user, { tls: false }), port: proxy.port };
    const traced: string[] = [];
    // Act
    const server = await connectMailServer(account, {
      password: user.password,
      trace: (line) => traced.push(line),
    });
    await server.logout();
    await proxy.close();
    // Assess
    const ids = traced.filter((line) => /^C: \S+ ID /.test(line));
    expect(ids.length).toBeGreaterThan(0);
    for (const line of ids) {
      expect(line).toContain(`"name" "postroom" "version" "${POSTROOM_VERSION}" "vendor" "postroom"`);
      expect(line).not.toMatch(/imapflow|support-url/i);
    }
  });

  /** The commands one plaintext session (login, EXAMINE INBOX, logout) sends, as a proxy saw them. */
  async function plaintextSessionCommands(): Promise<string[]> {
    const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
    const account = { ...testAccount(dovecot, user, { tls: false }), port: proxy.port };
    const server = await connectMailServer(account, { password: user.password });
    await server.examine('INBOX');
    await server.logout();
    await proxy.close();
    return proxy.commands();
  }

  it('sends ID once per session, before LOGIN (Dovecot answers it short, which made ImapFlow ask again)', async () => {
    // Act
    const commands = await plaintextSessionCommands();
    // Assess
    expect(commands.filter((name) => name === 'ID')).toEqual(['ID']);
    expect(commands.indexOf('ID')).toBeLessThan(commands.indexOf('LOGIN'));
  });

  it('stays in plaintext with tls: false and never sends STARTTLS', async () => {
    // Act
    const commands = await plaintextSessionCommands();
    // Assess
    expect(commands).not.toContain('STARTTLS');
    expect(commands).toEqual(expect.arrayContaining(['LOGIN', 'EXAMINE', 'LOGOUT']));
  });
});

describe('authentication', () => {
  it('uses AUTHENTICATE PLAIN when the account says plain', async () => {
    // Prepare
    const proxy = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
    const account = { ...testAccount(dovecot, user, { tls: false, method: 'plain' }), port: proxy.port };
    // Act
    const server = await connectMailServer(account, { password: user.password });
    await server.logout();
    await proxy.close();
    // Assess
    expect(proxy.commands()).toContain('AUTHENTICATE');
    expect(proxy.commands()).not.toContain('LOGIN');
  });

  it('reports a wrong password with the server answer and without any password', async () => {
    // Prepare
    const wrong = 'not-the-password-9731';
    const traced: string[] = [];
    // Act
    const error = await connectError(
      connectMailServer(testAccount(dovecot, user), { password: wrong, trace: (line) => traced.push(line) }),
    );
    // Assess
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'account test: authentication failed: [AUTHENTICATIONFAILED] Authentication failed.',
    );
    const everything = [error.message, JSON.stringify(error.toJSON()), String(error.cause), ...traced].join(
      '\n',
    );
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(Buffer.from(`\0${user.user}\0${wrong}`).toString('base64'));
  });

  it('never writes the password into the trace of a successful session', async () => {
    // Prepare
    const traced: string[] = [];
    for (const method of ['login', 'plain'] as const) {
      // Act
      const server = await connectMailServer(testAccount(dovecot, user, { tls: false, method }), {
        password: user.password,
        trace: (line) => traced.push(line),
      });
      await server.examine('INBOX');
      await server.logout();
    }
    // Assess
    const all = traced.join('\n');
    expect(all).toMatch(/C: \S+ LOGIN "?[\w-]+"? \*\*\*/);
    expect(all).toMatch(/C: \S+ AUTHENTICATE PLAIN/);
    expect(all).not.toContain(user.password);
    expect(all).not.toContain(Buffer.from(`\0${user.user}\0${user.password}`).toString('base64'));
  });
});

describe('unreachable servers', () => {
  let closed: ImapProxy;
  beforeAll(async () => {
    // A port that was free a moment ago and now refuses connections.
    closed = await startImapProxy({ host: dovecot.host, port: dovecot.ports.full.imap });
    await closed.close();
  });
  afterAll(async () => undefined);

  it('reports a refused connection with the address, retryable', async () => {
    // Prepare
    const account = { ...testAccount(dovecot, user, { tls: false }), port: closed.port };
    // Act
    const error = await connectError(connectMailServer(account, { password: user.password }));
    // Assess
    expect(error.code).toBe('CONNECT_FAILED');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`account test: cannot connect to 127.0.0.1:${closed.port} (ECONNREFUSED)`);
  });
});

describe('capability variants', () => {
  it.each([
    ['noMove', ['MOVE']],
    ['noUidplus', ['UIDPLUS']],
    ['noCondstoreIdle', ['CONDSTORE', 'QRESYNC', 'IDLE']],
  ] as const)('%s lacks %j after login but keeps the rest', async (variant, missing) => {
    // Prepare
    const account = testAccount(dovecot, user, { variant });
    // Act
    const server = await connectMailServer(account, { password: user.password });
    await server.logout();
    // Assess
    for (const capability of missing) expect(server.capabilities.has(capability)).toBe(false);
    expect(server.capabilities.has('NAMESPACE')).toBe(true);
  });

  it('full has MOVE, UIDPLUS, CONDSTORE and IDLE, and every variant sees the same mail', async () => {
    // Prepare
    const full = await connectMailServer(testAccount(dovecot, user), { password: user.password });
    const other = await connectMailServer(testAccount(dovecot, user, { variant: 'noMove' }), {
      password: user.password,
    });
    // Act
    const [a, b] = [await full.examine('INBOX'), await other.examine('INBOX')];
    await full.logout();
    await other.logout();
    // Assess
    for (const capability of ['MOVE', 'UIDPLUS', 'CONDSTORE', 'IDLE'])
      expect(full.capabilities.has(capability)).toBe(true);
    expect(b.uidValidity).toBe(a.uidValidity);
  });
});
