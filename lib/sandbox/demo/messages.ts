/**
 * The demo mailbox: about thirty realistic RFC 5322 messages (invoices with
 * PDF attachments, monitoring alerts, newsletters, personal mail, a prize
 * spam, a delivery-status bounce and an auto-reply), the same bytes on every
 * run. Lines end in CRLF (RFC 5322 section 2.1); non-ASCII header text is
 * sent as RFC 2047 encoded words, bodies as quoted-printable UTF-8, so every
 * message is 7-bit clean and any server accepts it.
 *
 * Every domain is under `.example` (RFC 2606): nothing here can reach a real
 * address.
 */

/** What a demo message is, so the tests and the output can say what should happen to it. */
export type DemoKind = 'invoice' | 'alert' | 'newsletter' | 'personal' | 'prize' | 'bounce' | 'auto-reply';

/** One message of the demo mailbox. */
export interface DemoMessage {
  kind: DemoKind;
  /** The decoded subject, as a mail client shows it. */
  subject: string;
  /** `<...>`, unique within the demo set. */
  messageId: string;
  /** The Date header, also used as the INTERNALDATE on APPEND. */
  date: Date;
  /** The raw message, CRLF line ends, 7-bit. */
  raw: Buffer;
}

/** The demo account's address, as the messages name it. */
export const DEMO_ADDRESS = 'demo@postroom.example';
const DEMO_RECIPIENT = `Demo User <${DEMO_ADDRESS}>`;
/** The vendor whose PDF invoices the `invoices` rule picks out (as in examples/postroom.example.yaml). */
export const DEMO_VENDOR_DOMAIN = 'acme.example';

const CRLF = '\r\n';
/** Monday 2 March 2026, 07:30 UTC: the first demo message; each next one is a little later. */
const BASE_TIME = Date.UTC(2026, 2, 2, 7, 30, 0);

// ---------------------------------------------------------------------------
// Encoding helpers

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
function mailbox(name: string, address: string): string {
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

interface Common {
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

function textMessage(c: Common, body: string): string {
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

function textPart(body: string, type = 'text/plain'): string {
  return [
    `Content-Type: ${type}; charset=utf-8`,
    'Content-Transfer-Encoding: quoted-printable',
    '',
    quotedPrintable(body),
  ].join(CRLF);
}

function multipart(c: Common, subtype: string, boundary: string, parts: string[], params = ''): string {
  return (
    headerBlock(c, [`Content-Type: multipart/${subtype}${params};${CRLF} boundary="${boundary}"`]) +
    CRLF +
    CRLF +
    `This is a multi-part message in MIME format.${CRLF}` +
    parts.map((part) => `--${boundary}${CRLF}${part}${CRLF}`).join('') +
    `--${boundary}--${CRLF}`
  );
}

function pdfPart(filename: string, pdf: Buffer): string {
  return [
    `Content-Type: application/pdf; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(pdf),
  ].join(CRLF);
}

// ---------------------------------------------------------------------------
// The demo set

interface Draft {
  kind: DemoKind;
  subject: string;
  build(common: Common): string;
  from: string;
  headers?: string[];
}

const acme = mailbox('ACME Billing', `billing@${DEMO_VENDOR_DOMAIN}`);
const monitoring = mailbox('Monitoring', 'alerts@ops.example');

function invoice(number: string, month: string, amount: string, subject: string): Draft {
  const filename = `ACME-Rechnung-${number}.pdf`;
  return {
    kind: 'invoice',
    subject,
    from: acme,
    build: (c) =>
      multipart(c, 'mixed', `acme-${number}`, [
        textPart(
          `Guten Tag,\n\nanbei erhalten Sie Ihre Rechnung ${number} für ${month} über ${amount} EUR.\n` +
            'Zahlbar innerhalb von 14 Tagen ohne Abzug.\n\nMit freundlichen Grüßen\nACME Buchhaltung',
        ),
        pdfPart(
          filename,
          tinyPdf([`ACME GmbH - Rechnung ${number}`, `Leistungszeitraum: ${month}`, `Betrag: ${amount} EUR`]),
        ),
      ]),
  };
}

function alert(subject: string, detail: string): Draft {
  return {
    kind: 'alert',
    subject,
    from: monitoring,
    // No Auto-Submitted here: the auto-replies rule would take these for out-of-office mail.
    headers: ['X-Priority: 1'],
    build: (c) =>
      textMessage(c, `${detail}\n\nRunbook: https://wiki.ops.example/runbooks/${c.date.getUTCHours()}\n`),
  };
}

function newsletter(list: string, listId: string, sender: string, subject: string, teaser: string): Draft {
  return {
    kind: 'newsletter',
    subject,
    from: sender,
    headers: [
      `List-Id: ${encodeHeaderText(list)} <${listId}>`,
      `List-Unsubscribe: <https://${listId.split('.').slice(1).join('.')}/unsubscribe>`,
      'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
      'Precedence: list',
    ],
    build: (c) =>
      multipart(c, 'alternative', `nl-${c.date.getTime().toString(36)}`, [
        textPart(`${teaser}\n\nRead online: https://${listId}/latest\nUnsubscribe: see the footer.\n`),
        textPart(
          `<html><body><h1>${subject}</h1><p>${teaser}</p><p><a href="https://${listId}/latest">Read online</a></p></body></html>`,
          'text/html',
        ),
      ]),
  };
}

function personal(name: string, address: string, subject: string, body: string, headers?: string[]): Draft {
  return {
    kind: 'personal',
    subject,
    from: mailbox(name, address),
    ...(headers ? { headers } : {}),
    build: (c) => textMessage(c, body),
  };
}

const prize: Draft = {
  kind: 'prize',
  subject: 'Herzlichen Glückwunsch! Sie sind Gewinner beim großen Gewinnspiel 🎉',
  from: mailbox('Preis-Zentrale', 'gewinner@lucky-draw.example'),
  build: (c) =>
    textMessage(
      c,
      'Sie wurden als Gewinner eines iPhone ausgewählt!\nBestätigen Sie jetzt Ihre Daten: http://lucky-draw.example/claim\n',
    ),
};

const bounce: Draft = {
  kind: 'bounce',
  subject: 'Undelivered Mail Returned to Sender',
  from: mailbox('Mail Delivery System', 'MAILER-DAEMON@mx.postroom.example'),
  headers: ['Auto-Submitted: auto-replied'],
  build: (c) => {
    const original = [
      `From: ${DEMO_RECIPIENT}`,
      'To: <nobody@gone.example>',
      'Subject: Angebot Projekt Nordlicht',
      `Date: ${rfc5322Date(new Date(c.date.getTime() - 120_000))}`,
      'Message-ID: <demo-sent-1@postroom.example>',
    ].join(CRLF);
    // RFC 3464: a multipart/report whose second part is the machine-readable status.
    return multipart(
      c,
      'report',
      'bounce-1',
      [
        textPart(
          'This is the mail system at host mx.postroom.example.\n\n' +
            "I'm sorry to have to inform you that your message could not be delivered.\n\n" +
            '<nobody@gone.example>: host mx.gone.example said: 550 5.1.1 User unknown\n',
        ),
        [
          'Content-Type: message/delivery-status',
          '',
          'Reporting-MTA: dns; mx.postroom.example',
          `Arrival-Date: ${rfc5322Date(c.date)}`,
          '',
          'Final-Recipient: rfc822; nobody@gone.example',
          'Action: failed',
          'Status: 5.1.1',
          'Remote-MTA: dns; mx.gone.example',
          'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
        ].join(CRLF),
        ['Content-Type: text/rfc822-headers', '', original].join(CRLF),
      ],
      '; report-type=delivery-status',
    );
  },
};

const autoReply: Draft = {
  kind: 'auto-reply',
  subject: 'Automatische Antwort: Abwesenheit bis 9. März',
  from: mailbox('Jörg Brückner', 'joerg.brueckner@partner.example'),
  headers: [
    'Auto-Submitted: auto-replied',
    'X-Autoreply: yes',
    'In-Reply-To: <demo-sent-2@postroom.example>',
  ],
  build: (c) =>
    textMessage(
      c,
      'Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 9. März nicht im Büro.\n' +
        'In dringenden Fällen wenden Sie sich bitte an office@partner.example.\n',
    ),
};

const DRAFTS: Draft[] = [
  invoice('2026-0141', 'Januar 2026', '1.249,00', 'Ihre Rechnung 2026-0141 von ACME'),
  personal(
    'Maria Schröder',
    'maria@schroeder.example',
    'Grüße aus München 🏔',
    'Hallo!\n\nWir sind gut angekommen, das Wetter ist herrlich. Nächste Woche zurück.\n\nLiebe Grüße\nMaria',
  ),
  alert('[alert] CPU above 90% on web-3', 'web-3.prod: CPU 94% for 10 minutes (threshold 90%).'),
  newsletter(
    'Node Weekly',
    'node-weekly.lists.news.example',
    mailbox('Node Weekly', 'newsletter@news.example'),
    'Node Weekly #612: streams, workers and the event loop',
    'This week: backpressure explained, worker threads in practice, and a look at Node 22.',
  ),
  invoice('2026-0188', 'Februar 2026', '1.249,00', 'Rechnung Nr. 2026-0188 – Februar'),
  personal(
    'Tom Becker',
    'tom@becker.example',
    'Re: Abendessen am Freitag?',
    'Freitag passt! 19 Uhr beim Italiener?\n\nTom\n\n> Hast du Freitag Zeit?',
    ['In-Reply-To: <demo-sent-3@postroom.example>', 'References: <demo-sent-3@postroom.example>'],
  ),
  alert('[ALERT] Disk /var at 95% on db-1', 'db-1.prod: filesystem /var is 95% full (threshold 90%).'),
  newsletter(
    'Stadtbibliothek Neuigkeiten',
    'neuigkeiten.lists.bibliothek.example',
    mailbox('Stadtbibliothek', 'info@bibliothek.example'),
    'Wöchentliche Neuigkeiten: Lesungen & Öffnungszeiten',
    'Neue Lesungen im März, geänderte Öffnungszeiten über Ostern und die Bestseller der Woche.',
  ),
  {
    // From the vendor, but no PDF: the invoice rule needs both, so this one stays in the INBOX.
    kind: 'personal',
    subject: 'Ihr Kundenkonto bei ACME: neue Anschrift bestätigt',
    from: mailbox('ACME Kundenservice', `service@${DEMO_VENDOR_DOMAIN}`),
    build: (c) => textMessage(c, 'Ihre neue Rechnungsanschrift wurde gespeichert.\n\nACME Kundenservice\n'),
  },
  personal(
    '山田 花子',
    'hanako@yamada.example',
    'こんにちは — 来週の打ち合わせ',
    'こんにちは!\n来週の打ち合わせは火曜日の10時でいかがでしょうか。\n\n山田',
  ),
  bounce,
  invoice('2026-0203', 'Februar 2026 (Nachtrag)', '89,50', 'Invoice 2026-0203: additional services'),
  alert(
    '[alert] Certificate for shop.example expires in 7 days',
    'TLS certificate CN=shop.example: 7 days left.',
  ),
  newsletter(
    'TypeScript Digest',
    'digest.lists.ts-news.example',
    mailbox('TypeScript Digest', 'digest@ts-news.example'),
    'TypeScript Digest: what verbatimModuleSyntax means for you',
    'Import elision, type-only imports and why your bundler cares.',
  ),
  personal(
    'Oma Hildegard',
    'hildegard@familie.example',
    'Geburtstag am Sonntag',
    'Ihr Lieben,\n\nam Sonntag um 15 Uhr gibt es Kuchen. Bringt gute Laune mit!\n\nOma',
  ),
  prize,
  invoice('2026-0217', 'März 2026', '1.249,00', 'Ihre Rechnung 2026-0217 von ACME'),
  autoReply,
  alert(
    '[alert] Backup job nightly-db failed',
    'Job nightly-db exited with status 2: destination unreachable.',
  ),
  personal(
    'Lena Kowalski',
    'lena@kowalski.example',
    'Fotos vom Wochenende',
    'Hier der Link zu den Fotos: https://photos.kowalski.example/album/42\n\nLena',
  ),
  newsletter(
    'Radfahren im Süden',
    'touren.lists.rad.example',
    mailbox('Radclub Süd', 'touren@rad.example'),
    'Touren im März: Bodensee-Runde 🚲',
    'Drei neue Touren, darunter die Bodensee-Runde (120 km) am 21. März.',
  ),
  invoice('2026-0230', 'März 2026 (Hosting)', '39,00', 'Rechnung 2026-0230 Hosting'),
  personal(
    'Ahmet Yılmaz',
    'ahmet@yilmaz.example',
    'Umzug: brauchst du noch Kartons?',
    'Ich habe noch 20 Umzugskartons übrig. Soll ich sie vorbeibringen?\n\nAhmet',
  ),
  alert(
    '[alert] Error rate 5% on api-gateway',
    'api-gateway: 5.2% of requests answered 5xx in the last 5 minutes.',
  ),
  newsletter(
    'Open Source Friday',
    'osf.lists.oss.example',
    mailbox('Open Source Friday', 'hello@oss.example'),
    'Open Source Friday: 5 projects that need your help',
    'Good first issues in five friendly projects, and how to get started.',
  ),
  personal(
    'Sophie Martin',
    'sophie@martin.example',
    'Café ce week-end ? ☕',
    'Salut !\n\nOn se retrouve samedi au café du coin ? Vers 10 h ?\n\nBises,\nSophie',
  ),
  invoice('2026-0244', 'März 2026 (Lizenzen)', '420,00', 'Ihre Rechnung 2026-0244 – Softwarelizenzen'),
  personal(
    'Paul Weber',
    'paul@weber.example',
    'Protokoll der Vereinssitzung',
    'Anbei in Kürze das Protokoll. Nächste Sitzung am 14. April.\n\nPaul',
  ),
];

/**
 * The demo mailbox, in delivery order. Deterministic: the same bytes on every
 * call. Dates start on 2 March 2026 and are 37 minutes apart.
 */
export function demoMessages(): DemoMessage[] {
  return DRAFTS.map((draft, i) => {
    const date = new Date(BASE_TIME + i * 37 * 60_000);
    const messageId = `<demo-${String(i + 1).padStart(2, '0')}-${draft.kind}@postroom.example>`;
    const raw = draft.build({
      from: draft.from,
      subject: draft.subject,
      date,
      messageId,
      ...(draft.headers ? { headers: draft.headers } : {}),
    });
    return { kind: draft.kind, subject: draft.subject, messageId, date, raw: Buffer.from(raw, 'latin1') };
  });
}

/**
 * A message to drop into the running demo (written as `sample.eml`): an alert,
 * so its effect (flagged, an event) is easy to see. `n` makes its Message-ID
 * and subject distinct.
 */
export function sampleDropMessage(n = 1, date = new Date()): Buffer {
  const raw = alert(
    `[alert] Sample alert #${n} dropped into the demo`,
    'This message was added while the demo was running.',
  ).build({
    from: monitoring,
    subject: `[alert] Sample alert #${n} dropped into the demo`,
    date,
    messageId: `<demo-sample-${n}-${date.getTime()}@postroom.example>`,
    headers: ['X-Priority: 1'],
  });
  return Buffer.from(raw, 'latin1');
}
