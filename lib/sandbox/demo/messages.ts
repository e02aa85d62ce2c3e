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
import {
  alert,
  autoReply,
  bounce,
  type Draft,
  invoice,
  monitoring,
  newsletter,
  personal,
  prize,
} from './drafts.ts';
import { DEMO_VENDOR_DOMAIN, type DemoMessage } from './message-kinds.ts';
import { mailbox, textMessage } from './mime.ts';

export { DEMO_ADDRESS, DEMO_VENDOR_DOMAIN, type DemoKind, type DemoMessage } from './message-kinds.ts';
export { encodeHeaderText, quotedPrintable, rfc5322Date, tinyPdf } from './mime.ts';

/** Monday 2 March 2026, 07:30 UTC: the first demo message; each next one is a little later. */
const BASE_TIME = Date.UTC(2026, 2, 2, 7, 30, 0);

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
