/**
 * Reading the queue message's envelope from a message's own header block
 * (what ingest does instead of asking the server for ENVELOPE).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import addressparser from 'nodemailer/lib/addressparser';
import { describe, expect, it } from 'vitest';
import {
  HeaderCapture,
  headerBlock,
  headerEnd,
  headerFacts,
  MAX_HEADER_BYTES,
  plainMailbox,
} from '#lib/mime/header-envelope.ts';
import { decodeWords } from '#lib/rules/encoded-words.ts';

const bytes = (text: string, encoding: BufferEncoding = 'utf8') => Buffer.from(text, encoding);

describe('headerFacts', () => {
  it('reads subject, addresses, date and Message-ID, decoding encoded words and unfolding', () => {
    // Prepare
    const header = bytes(
      [
        'Received: from mx by example',
        'Message-ID: <abc.123@example.test>',
        'Subject: =?UTF-8?B?R3LDvMOfZQ==?= aus',
        ' =?ISO-8859-1?Q?M=FCnchen?=',
        'From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.test>',
        'To: a@example.test, "Bob, Jr." <bob@example.test>',
        'Cc: Team: carol@example.test, Dave <dave@example.test>;',
        'Date: Thu, 01 Jan 2026 10:00:00 +0100',
        '',
        'body: not a header',
      ].join('\r\n'),
    );
    // Act
    const facts = headerFacts(headerBlock(header));
    // Assess
    expect(facts).toEqual({
      messageId: '<abc.123@example.test>',
      envelope: {
        subject: 'Grüße aus München',
        from: [{ name: 'Renée', address: 'renee@example.test' }],
        to: [{ address: 'a@example.test' }, { name: 'Bob, Jr.', address: 'bob@example.test' }],
        cc: [{ address: 'carol@example.test' }, { name: 'Dave', address: 'dave@example.test' }],
        date: '2026-01-01T09:00:00.000Z',
      },
    });
  });

  it('takes the first of repeated fields (To and Cc add up), reads raw UTF-8 and windows-1252, and skips a bad date', () => {
    // Prepare
    const utf8 = bytes(
      'Subject: Café ☕\nSubject: second\nFrom: Zoë <zoe@example.test>\nFrom: x@example.test\n' +
        'To: a@example.test\nTo: b@example.test\nDate: yesterday\n\n',
    );
    const latin = bytes('Subject: Caf\xe9\r\n\r\n', 'latin1');
    // Act
    const fromUtf8 = headerFacts(headerBlock(utf8));
    const fromLatin = headerFacts(headerBlock(latin));
    // Assess
    expect(fromUtf8.envelope).toEqual({
      subject: 'Café ☕',
      from: [{ name: 'Zoë', address: 'zoe@example.test' }],
      to: [{ address: 'a@example.test' }, { address: 'b@example.test' }],
      cc: [],
    });
    expect(fromUtf8.messageId).toBeUndefined();
    expect(fromLatin.envelope.subject).toBe('Café');
  });

  it('treats a message without a blank line as all header, and stops at the first blank line', () => {
    // Prepare
    const noBody = bytes('Subject: only a header\r\nFrom: x@example.test');
    const bodyLooksLikeHeader = bytes('Subject: real\r\n\r\nFrom: spoofed@example.test\r\n');
    // Act
    const first = headerFacts(headerBlock(noBody));
    const second = headerFacts(headerBlock(bodyLooksLikeHeader));
    // Assess
    expect(first.envelope).toMatchObject({ subject: 'only a header', from: [{ address: 'x@example.test' }] });
    expect(second.envelope.from).toEqual([]);
  });
});

describe('plainMailbox (the fast path for one plain address)', () => {
  it('reads exactly what addressparser reads, and leaves every other form to it', () => {
    // Prepare
    const plain = [
      'a@example.test',
      ' Alice Example <alice@example.test> ',
      'Alice   Example <alice@example.test>',
      '"Doe, John" <john@example.test>',
      '<only@example.test>',
      '=?UTF-8?Q?Ren=C3=A9e?= <renee@example.test>',
      'John Q. Public <jqp@example.test>',
    ];
    const other = [
      'a@example.test, b@example.test',
      'Team: a@example.test;',
      'x (comment) <a@example.test>',
      '"a@example.test" <b@example.test>',
      'user-without-domain',
    ];
    const viaAddressparser = (value: string) =>
      addressparser(value).map((entry) => {
        const name = decodeWords(entry.name ?? '').trim();
        return { ...(name ? { name } : {}), ...(entry.address ? { address: entry.address } : {}) };
      });
    // Act
    const fast = plain.map((value) => plainMailbox(value));
    const leftOver = other.map((value) => plainMailbox(value));
    // Assess
    expect(fast.map((address) => [address])).toEqual(plain.map(viaAddressparser));
    expect(leftOver).toEqual(other.map(() => undefined));
  });
});

describe('headerEnd', () => {
  it('finds the blank line after CRLF and bare-LF headers, or says there is none', () => {
    expect(headerEnd(bytes('A: 1\r\n\r\nbody'))).toBe(8);
    expect(headerEnd(bytes('A: 1\n\nbody'))).toBe(6);
    expect(headerEnd(bytes('A: 1\r\nB: 2'))).toBe(-1);
  });
});

describe('headerBlock over a message held as pieces', () => {
  const message = bytes(`Subject: pieces\r\nFrom: a@example.test\r\n\r\n${'x'.repeat(5000)}`);
  const header = 'Subject: pieces\r\nFrom: a@example.test\r\n\r\n';

  it('finds the header at every split of the message into two or three pieces', () => {
    for (let cut = 0; cut <= header.length + 2; cut++) {
      // Act
      const two = headerBlock([message.subarray(0, cut), message.subarray(cut)]);
      const three = headerBlock([
        message.subarray(0, cut),
        message.subarray(cut, cut + 1),
        message.subarray(cut + 1),
      ]);
      // Assess
      expect(Buffer.from(two).toString('latin1')).toBe(header);
      expect(Buffer.from(three).toString('latin1')).toBe(header);
    }
  });

  it('reads a header that ends in the first piece from that piece, without a copy', () => {
    // Act
    const block = headerBlock([message.subarray(0, 100), message.subarray(100)]);
    // Assess
    expect(block.buffer).toBe(message.buffer);
    expect(headerFacts(block).envelope.subject).toBe('pieces');
  });

  it('keeps at most MAX_HEADER_BYTES when no piece has a blank line, and takes no pieces as empty', () => {
    // Prepare
    const endless = bytes(`X-Long: ${'y'.repeat(MAX_HEADER_BYTES * 2)}`);
    // Act
    const block = headerBlock([
      endless.subarray(0, 1000),
      endless.subarray(1000, 5000),
      endless.subarray(5000),
    ]);
    // Assess
    expect(block.length).toBe(MAX_HEADER_BYTES);
    expect(Buffer.from(block).equals(endless.subarray(0, MAX_HEADER_BYTES))).toBe(true);
    expect(headerBlock([]).length).toBe(0);
  });
});

describe('HeaderCapture', () => {
  async function through(chunks: Buffer[]): Promise<{ out: Buffer; header: string }> {
    const capture = new HeaderCapture();
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), capture, async (source) => {
      for await (const chunk of source) out.push(chunk as Buffer);
    });
    return { out: Buffer.concat(out), header: Buffer.from(await capture.header).toString('latin1') };
  }

  it('passes every byte through and keeps the header, even when the blank line straddles chunks', async () => {
    // Prepare
    const message = bytes(`Subject: split\r\nFrom: a@example.test\r\n\r\n${'x'.repeat(100_000)}`);
    const chunks = [message.subarray(0, 37), message.subarray(37, 39), message.subarray(39)];
    // Act
    const { out, header } = await through(chunks);
    // Assess
    expect(out.equals(message)).toBe(true);
    expect(header).toBe('Subject: split\r\nFrom: a@example.test\r\n\r\n');
  });

  it('stops keeping bytes at MAX_HEADER_BYTES when there is no blank line', async () => {
    // Prepare
    const endless = bytes(`X-Long: ${'y'.repeat(MAX_HEADER_BYTES * 2)}`);
    // Act
    const { out, header } = await through([endless.subarray(0, 1000), endless.subarray(1000)]);
    // Assess
    expect(out.length).toBe(endless.length);
    expect(header.length).toBe(MAX_HEADER_BYTES);
  });

  it('settles the header when the stream fails, so nobody waits forever', async () => {
    // Prepare
    const capture = new HeaderCapture();
    const failed = new Promise((resolve) => capture.on('error', resolve));
    // Act
    capture.write(bytes('Subject: cut off'));
    capture.destroy(new Error('connection lost'));
    // Assess
    expect(Buffer.from(await capture.header).toString()).toBe('Subject: cut off');
    expect(await failed).toMatchObject({ message: 'connection lost' });
  });
});
