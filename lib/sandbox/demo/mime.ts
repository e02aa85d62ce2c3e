/**
 * The encoders (RFC 5322 dates, RFC 2047 header words, quoted-printable, base64,
 * a tiny PDF) and the MIME builders every demo message is made of: CRLF line
 * ends and 7-bit output, whatever the text.
 */
import { DEMO_RECIPIENT } from './message-kinds.ts';

export const CRLF = '\r\n';

/** RFC 5322 date-time in UTC, so the bytes do not depend on the machine's zone. */
export function rfc5322Date(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${days[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${months[date.getUTCMonth()]} ` +
    `${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:` +
    `${pad(date.getUTCSeconds())} +0000`
  );
}

const isAscii = (text: string) => /^[\x20-\x7e]*$/.test(text);

/**
 * Header text as RFC 2047 `B` encoded words when it is not plain ASCII. Each
 * word stays within the 75-character limit (RFC 2047 section 2) and never
 * splits a UTF-8 sequence (section 5: each word must decode on its own);
 * words are folded onto continuation lines.
 */
export function encodeHeaderText(text: string): string {
  if (isAscii(text)) return text;
  const words: string[] = [];
  let chunk = '';
  for (const char of text) {
    // 39 bytes of UTF-8 are 52 base64 characters: 64 with the =?UTF-8?B?...?= wrapper,
    // which leaves room for a field name within the 78-character line (RFC 5322 2.1.1).
    if (Buffer.byteLength(chunk + char) > 39) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(`${CRLF} `);
}

/** `Name <address>`, the name encoded when needed and quoted when it holds specials. */
export function mailbox(name: string, address: string): string {
  if (!isAscii(name)) return `${encodeHeaderText(name)} <${address}>`;
  return /[()<>[\]:;@\\,."]/.test(name)
    ? `"${name.replace(/["\\]/g, '\\$&')}" <${address}>`
    : `${name} <${address}>`;
}

/** UTF-8 text as quoted-printable (RFC 2045 section 6.7), CRLF line ends, lines of at most 76. */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.replace(/\r?\n/g, '\n').split('\n')) {
    const bytes = Buffer.from(line, 'utf8');
    let encoded = '';
    let current = '';
    bytes.forEach((byte, index) => {
      const last = index === bytes.length - 1;
      // Trailing whitespace would be stripped in transit (rule 3): encode it.
      const literal = (byte >= 33 && byte <= 126 && byte !== 61) || (byte === 32 && !last);
      const piece = literal
        ? String.fromCharCode(byte)
        : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      if (current.length + piece.length > 75) {
        encoded += `${current}=${CRLF}`;
        current = '';
      }
      current += piece;
    });
    out.push(encoded + current);
  }
  return out.join(CRLF);
}

/** Base64 in 76-character lines (RFC 2045 section 6.8). */
function base64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join(CRLF);
}

/**
 * A small, valid one-page PDF 1.4 showing `lines` in Helvetica: a real
 * cross-reference table with correct byte offsets, so PDF viewers open it
 * without repair.
 */
export function tinyPdf(lines: string[]): Buffer {
  const pdfString = (s: string) => s.replace(/[\\()]/g, '\\$&').replace(/[^\x20-\x7e]/g, '?');
  const text = lines.map((line, i) => `${i === 0 ? '' : '0 -18 Td '}(${pdfString(line)}) Tj`).join('\n');
  const stream = `BT /F1 12 Tf 72 760 Td\n${text}\nET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`,
  ];
  // The second line's high bytes mark the file as binary (PDF 1.7, 7.5.2).
  let pdf = '%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(pdf, 'latin1'));
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(pdf, 'latin1');
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}

// ---------------------------------------------------------------------------
// Message builders

export interface Common {
  from: string;
  to?: string;
  subject: string;
  date: Date;
  messageId: string;
  headers?: string[];
}

function headerBlock(c: Common, contentHeaders: string[]): string {
  return [
    `From: ${c.from}`,
    `To: ${c.to ?? DEMO_RECIPIENT}`,
    `Subject: ${encodeHeaderText(c.subject)}`,
    `Date: ${rfc5322Date(c.date)}`,
    `Message-ID: ${c.messageId}`,
    ...(c.headers ?? []),
    'MIME-Version: 1.0',
    ...contentHeaders,
  ].join(CRLF);
}

export function textMessage(c: Common, body: string): string {
  return (
    headerBlock(c, [
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
    ]) +
    CRLF +
    CRLF +
    quotedPrintable(body) +
    CRLF
  );
}

export function textPart(body: string, type = 'text/plain'): string {
  return [
    `Content-Type: ${type}; charset=utf-8`,
    'Content-Transfer-Encoding: quoted-printable',
    '',
    quotedPrintable(body),
  ].join(CRLF);
}

export function multipart(
  c: Common,
  subtype: string,
  boundary: string,
  parts: string[],
  params = '',
): string {
  return (
    headerBlock(c, [`Content-Type: multipart/${subtype}${params};${CRLF} boundary="${boundary}"`]) +
    CRLF +
    CRLF +
    `This is a multi-part message in MIME format.${CRLF}` +
    parts.map((part) => `--${boundary}${CRLF}${part}${CRLF}`).join('') +
    `--${boundary}--${CRLF}`
  );
}

export function pdfPart(filename: string, pdf: Buffer): string {
  return [
    `Content-Type: application/pdf; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(pdf),
  ].join(CRLF);
}
