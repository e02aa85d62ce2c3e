import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { QueueMessage } from '#lib/ports.ts';
import { decodeWords } from '#lib/rules/encoded-words.ts';
import { MessageParseError, parseMessage, readAttachments, toRuleInput } from '#lib/rules/message.ts';

const fixture = (name: string) => new URL(`../fixtures/rules/${name}`, import.meta.url);
const load = async (name: string) => parseMessage(await readFile(fixture(name)));

/** 1,100 MIME parts: more than mailparser's limit of 1,000, so it gives up. */
function tooManyParts(): Buffer {
  let raw = 'From: a@b.example\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n';
  for (let i = 0; i < 1100; i++) raw += '--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n';
  return Buffer.from(`${raw}--x--\r\n`);
}

describe('parseMessage', () => {
  it('decodes an ISO-8859-1 quoted-printable encoded-word subject', async () => {
    // Act
    const parsed = await load('prize.eml');

    // Assess
    expect(parsed.ok).toBe(true);
    expect(parsed.subject).toBe('Großes Gewinnspiel für Sie');
  });

  it('decodes a UTF-8 subject whose multi-byte character is split across two encoded words', async () => {
    // Act
    const parsed = await load('encoded-utf8.eml');

    // Assess
    expect(parsed.subject).toBe('Prüfung ✓ bestanden');
    expect(parsed.from).toEqual([{ name: 'Zoë Müller', address: 'zoe@example.org' }]);
    expect(parsed.headers).toContainEqual({ name: 'x-greeting', value: 'Grüße aus Berlin' });
  });

  it('decodes Shift_JIS and ISO-2022-JP encoded words, dropping the space between them (RFC 2047 6.2)', async () => {
    // Act
    const parsed = await load('encoded-sjis.eml');

    // Assess
    expect(parsed.subject).toBe('テスト日本');
    expect(parsed.headers.find((h) => h.name === 'subject')?.value).toBe('テスト日本');
  });

  it('flattens address groups and decodes internationalised domains', async () => {
    // Act
    const parsed = await load('groups-idn.eml');

    // Assess
    expect(parsed.from).toEqual([{ name: 'Jörg', address: 'jorg@bücher.example' }]);
    expect(parsed.to).toEqual([
      { address: 'alice@team.example', group: 'Project Team' },
      { name: 'Bob B.', address: 'bob@team.example', group: 'Project Team' },
      { address: 'dave@solo.example' },
    ]);
    expect(parsed.cc).toEqual([{ name: 'Carol', address: 'carol@bücher.example' }]);
    expect(parsed.bcc).toEqual([{ address: 'hidden@secret.example' }]);
    expect(parsed.deliveredTo).toEqual([{ address: 'me+rules@home.example' }]);
  });

  it('reduces an HTML-only body to text and keeps every header occurrence', async () => {
    // Act
    const parsed = await load('newsletter.eml');

    // Assess
    expect(parsed.text).toContain('Read our latest stories about paper mail.');
    expect(parsed.text).not.toContain('<b>');
    expect(parsed.headers).toContainEqual({ name: 'list-id', value: 'Weekly News <weekly.letters.example>' });
  });

  it('describes attachments without keeping their content', async () => {
    // Act
    const parsed = await parseMessage(createReadStream(fixture('invoice.eml')));

    // Assess
    expect(parsed.attachments).toEqual([
      {
        filename: 'invoice-2026-001.pdf',
        contentType: 'application/pdf',
        size: 77,
        disposition: 'attachment',
      },
    ]);
    expect(parsed.text).toBe('Please find your invoice attached.\n');
    expect(parsed.size).toBe((await readFile(fixture('invoice.eml'))).length);
    expect(parsed.date?.toISOString()).toBe('2026-01-05T08:30:00.000Z');
  });

  it('gives an attachment with an empty Content-Type the generic type instead of failing', async () => {
    // Act
    const parsed = await load('empty-content-type.eml');

    // Assess
    expect(parsed.ok).toBe(true);
    expect(parsed.attachments).toEqual([
      { filename: 'face.jpg', contentType: 'application/octet-stream', size: 10, disposition: 'attachment' },
    ]);
  });

  it('resolves with ok: false and a warning when mailparser gives up', async () => {
    // Act
    const parsed = await parseMessage(tooManyParts());

    // Assess
    expect(parsed.ok).toBe(false);
    expect(parsed.warnings).toEqual(['message could not be parsed: more than 1000 MIME parts']);
  });

  it('rejects with the stream error when the source fails (a blob read error is retryable, not a parse failure)', async () => {
    // Prepare
    const source = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });

    // Act / Assess
    await expect(parseMessage(source)).rejects.toThrow('connection reset');
  });
});

describe('readAttachments', () => {
  it('streams each attachment with its name, type and decoded content', async () => {
    // Prepare
    const parts: Array<{ filename?: string; contentType: string; body: string }> = [];

    // Act
    for await (const part of readAttachments(createReadStream(fixture('invoice.eml')))) {
      const chunks: Buffer[] = [];
      for await (const chunk of part.content) chunks.push(chunk as Buffer);
      parts.push({
        filename: part.filename,
        contentType: part.contentType,
        body: Buffer.concat(chunks).toString(),
      });
    }

    // Assess
    expect(parts).toEqual([
      {
        filename: 'invoice-2026-001.pdf',
        contentType: 'application/pdf',
        body: expect.stringMatching(/^%PDF-1\.4\n/),
      },
    ]);
  });

  it('goes on when the consumer leaves an attachment unread', async () => {
    // Prepare
    const raw = Buffer.from(
      [
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        'Content-Type: text/plain',
        '',
        'text',
        '--b',
        'Content-Type: image/png; name=a.png',
        'Content-Disposition: attachment; filename=a.png',
        '',
        'AAAA',
        '--b',
        'Content-Type: image/png; name=b.png',
        'Content-Disposition: attachment; filename=b.png',
        '',
        'BBBB',
        '--b--',
        '',
      ].join('\r\n'),
    );

    // Act
    const names: Array<string | undefined> = [];
    for await (const part of readAttachments(raw)) names.push(part.filename);

    // Assess
    expect(names).toEqual(['a.png', 'b.png']);
  });

  it('rejects with MessageParseError when the message cannot be parsed', async () => {
    // Act / Assess
    await expect(async () => {
      for await (const _ of readAttachments(tooManyParts())) {
        // nothing to do
      }
    }).rejects.toBeInstanceOf(MessageParseError);
  });
});

describe('decodeWords', () => {
  it('leaves text outside encoded words alone and keeps unknown charsets readable', () => {
    // Act / Assess
    expect(decodeWords('Re: =?iso-8859-15?q?=A4uro?= and more')).toBe('Re: €uro and more');
    expect(decodeWords('=?x-unknown?Q?plain?=')).toBe('plain');
    expect(decodeWords('=?UTF-8*de?Q?gr=C3=BC=C3=9F?=')).toBe('grüß');
    expect(decodeWords('no words here')).toBe('no words here');
  });
});

describe('toRuleInput', () => {
  const queueMessage: QueueMessage = {
    v: 1,
    account: 'home',
    mailbox: 'INBOX',
    uidValidity: 1,
    uid: 7,
    internalDate: '2026-01-05T08:31:00.000Z',
    size: 700,
    flags: ['\\Seen'],
    envelope: {
      subject: 'Envelope subject',
      from: [{ name: 'E', address: 'e@xn--bcher-kva.example' }],
      to: [],
      cc: [],
    },
    blob: { key: 'raw/home/INBOX/1/7.eml' },
  };

  it('takes envelope facts only, leaving message content unknown', () => {
    // Act
    const input = toRuleInput(queueMessage);

    // Assess
    expect(input).toEqual({
      subject: 'Envelope subject',
      from: [{ name: 'E', address: 'e@bücher.example' }],
      to: [],
      cc: [],
      internalDate: new Date('2026-01-05T08:31:00.000Z'),
      size: 700,
      flags: ['\\Seen'],
      warnings: [],
    });
  });

  it('prefers the parsed message and keeps server facts (size, flags, internal date)', async () => {
    // Act
    const input = toRuleInput(queueMessage, await load('invoice.eml'));

    // Assess
    expect(input.subject).toBe('Invoice 2026-001');
    expect(input.from).toEqual([{ name: 'ACME Billing', address: 'billing@acme.example' }]);
    expect(input.size).toBe(700);
    expect(input.flags).toEqual(['\\Seen']);
    expect(input.attachments).toHaveLength(1);
    expect(input.bcc).toEqual([]);
  });

  it('keeps the envelope and passes the warning on when the message could not be parsed', async () => {
    // Act
    const input = toRuleInput(queueMessage, await parseMessage(tooManyParts()));

    // Assess
    expect(input.subject).toBe('Envelope subject');
    expect(input.headers).toBeUndefined();
    expect(input.warnings).toEqual(['message could not be parsed: more than 1000 MIME parts']);
  });
});
