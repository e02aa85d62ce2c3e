import { describe, expect, it } from 'vitest';
import { ImapError } from '#lib/errors.ts';
import { parseMetadataLine } from '#lib/imap/commands/fetch-meta.ts';
import { redactor } from '#lib/imap/connect.ts';
import { commandError, connectError } from '#lib/imap/errors.ts';
import { toLogicalName, toServerName } from '#lib/imap/mailbox-names.ts';
import { uidSet, uidSets } from '#lib/imap/uid-sets.ts';

describe('mailbox names', () => {
  it('keeps slash-separated names as they are on a server with no prefix and / as delimiter', () => {
    // Prepare
    const ns = { prefix: '', delimiter: '/' };
    // Act
    const name = toServerName('Finance/Invoices', ns);
    // Assess
    expect(name).toBe('Finance/Invoices');
    expect(toLogicalName(name, ns)).toBe('Finance/Invoices');
  });

  it('maps into an INBOX. namespace with . as delimiter, and back', () => {
    // Prepare
    const ns = { prefix: 'INBOX.', delimiter: '.' };
    // Act
    const name = toServerName('Finance/Invoices', ns);
    // Assess
    expect(name).toBe('INBOX.Finance.Invoices');
    expect(toLogicalName(name, ns)).toBe('Finance/Invoices');
  });

  it('keeps INBOX as INBOX in any case and does not prefix names already under it', () => {
    // Prepare
    const ns = { prefix: 'INBOX.', delimiter: '.' };
    // Act
    const names = [toServerName('inbox', ns), toServerName('INBOX/Sub', ns)];
    // Assess
    expect(names).toEqual(['INBOX', 'INBOX.Sub']);
  });

  it('refuses a hierarchical name on a flat namespace and an empty name', () => {
    // Prepare
    const flat = { prefix: '', delimiter: '' };
    // Act
    const attempts = [
      () => toServerName('A/B', flat),
      () => toServerName(' / ', { prefix: '', delimiter: '/' }),
    ];
    // Assess
    for (const attempt of attempts) expect(attempt).toThrow();
  });
});

describe('UID sets', () => {
  it('compresses runs into ranges, sorted and without duplicates', () => {
    // Prepare
    const uids = [10, 3, 1, 2, 7, 9, 2];
    // Act
    const set = uidSet(uids);
    // Assess
    expect(set).toBe('1:3,7,9:10');
  });

  it('is empty for no UIDs, so callers can skip the command', () => {
    // Act
    const sets = uidSets([]);
    // Assess
    expect(sets).toEqual([]);
  });

  it('splits long sets so every command line stays short', () => {
    // Prepare: every other UID, so nothing compresses
    const uids = Array.from({ length: 3000 }, (_, index) => 1_000_000 + index * 2);
    // Act
    const sets = uidSets(uids, 1000);
    // Assess
    expect(sets.length).toBeGreaterThan(1);
    for (const set of sets) expect(set.length).toBeLessThanOrEqual(1000);
    expect(sets.join(',').split(',').map(Number)).toEqual(uids);
  });
});

describe('trace redaction', () => {
  it('hides LOGIN arguments, AUTHENTICATE responses and the password anywhere', () => {
    // Prepare
    const redact = redactor('alice', 'S3cret!pw');
    const plain = Buffer.from('\0alice\0S3cret!pw').toString('base64');
    // Act
    const lines = [
      redact('C: 2 LOGIN "alice" "S3cret!pw"'),
      redact(`C: 2 AUTHENTICATE PLAIN ${plain}`),
      redact(`C: ${plain}`),
      redact('S: * OK something S3cret!pw echoed'),
    ];
    // Assess
    expect(lines[0]).toBe('C: 2 LOGIN "alice" ***');
    expect(lines[1]).toBe('C: 2 AUTHENTICATE PLAIN ***');
    for (const line of lines) {
      expect(line).not.toContain('S3cret!pw');
      expect(line).not.toContain(plain);
    }
  });
});

describe('IMAP error messages', () => {
  const ctx = { account: 'support', host: '127.0.0.1', port: 993 };

  it('names the account and the server answer for a refused login', () => {
    // Prepare: the shape ImapFlow gives a tagged NO to LOGIN
    const error = Object.assign(new Error('Command failed'), {
      authenticationFailed: true,
      serverResponseCode: 'AUTHENTICATIONFAILED',
      response: 'Authentication failed.',
    });
    // Act
    const mapped = connectError(error, ctx, 'pw');
    // Assess
    expect(mapped).toBeInstanceOf(ImapError);
    expect(mapped.code).toBe('AUTH_FAILED');
    expect(mapped.message).toBe(
      'account support: authentication failed: [AUTHENTICATIONFAILED] Authentication failed.',
    );
  });

  it('tells a busy server (LIMIT) from a wrong password, and makes it retryable', () => {
    // Prepare: what ImapFlow gives when Dovecot refuses a login over mail_max_userip_connections
    const error = Object.assign(new Error('Command failed'), {
      authenticationFailed: true,
      serverResponseCode: 'LIMIT',
      response: 'Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)',
    });
    // Act
    const mapped = connectError(error, ctx, 'pw');
    // Assess
    expect(mapped.code).toBe('SERVER_BUSY');
    expect(mapped.retryable).toBe(true);
    expect(mapped.message).toMatch(
      /^account support: server 127\.0\.0\.1:993 refused the login for now .*\[LIMIT\] Maximum number/,
    );
  });

  it("tells Gmail's too-many-connections refusal, which has no LIMIT code, from a wrong password", () => {
    // Prepare: Gmail answers a login over its per-account limit this way
    const error = Object.assign(new Error('Command failed'), {
      authenticationFailed: true,
      response: '[ALERT] Too many simultaneous connections. (Failure)',
    });
    // Act
    const mapped = connectError(error, ctx, 'pw');
    // Assess
    expect(mapped.code).toBe('SERVER_BUSY');
    expect(mapped.retryable).toBe(true);
  });

  it('reports a refused connection with the address and Node code, retryable', () => {
    // Prepare
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    // Act
    const mapped = connectError(error, { ...ctx, port: 1 });
    // Assess
    expect(mapped.code).toBe('CONNECT_FAILED');
    expect(mapped.retryable).toBe(true);
    expect(mapped.message).toBe('account support: cannot connect to 127.0.0.1:1 (ECONNREFUSED)');
  });

  it('scrubs a password a server echoed back from messages and causes', () => {
    // Prepare
    const error = Object.assign(new Error('Command failed'), {
      responseText: 'bad password hunter2 for you',
    });
    // Act
    const mapped = commandError(error, 'support', 'SELECT "x"', 'hunter2');
    // Assess
    expect(mapped.message).not.toContain('hunter2');
    expect(String((mapped.cause as Error).message)).not.toContain('hunter2');
    expect(JSON.stringify(mapped.toJSON())).not.toContain('hunter2');
  });
});

describe('metadata FETCH lines (the fast path)', () => {
  it('reads UID, size, internal date with its zone, and flags, in any order', () => {
    expect(
      parseMetadataLine(
        '* 7 FETCH (FLAGS (\\Seen $Label) INTERNALDATE " 2-Feb-2026 23:30:00 -0130" RFC822.SIZE 4096 UID 42)',
      ),
    ).toEqual({
      uid: 42,
      size: 4096,
      internalDate: new Date('2026-02-03T01:00:00.000Z'),
      flags: ['\\Seen', '$Label'],
    });
    expect(
      parseMetadataLine('* 1 FETCH (UID 1 RFC822.SIZE 10 INTERNALDATE "01-Jan-2026 00:00:00 +0000" FLAGS ())')
        ?.flags,
    ).toEqual([]);
  });

  it('is not fooled by an unsolicited flag update', () => {
    expect(parseMetadataLine('* 3 FETCH (UID 9 FLAGS (\\Deleted))')).toBeUndefined();
  });
});
