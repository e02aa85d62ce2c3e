/**
 * The kinds of demo message (invoice, alert, newsletter, personal mail, prize
 * spam, bounce, auto-reply) as drafts: sender, subject and headers, with a
 * builder that writes the raw message once date and Message-ID are known.
 */
import { DEMO_RECIPIENT, DEMO_VENDOR_DOMAIN, type DemoKind } from './message-kinds.ts';
import {
  type Common,
  CRLF,
  encodeHeaderText,
  mailbox,
  multipart,
  pdfPart,
  rfc5322Date,
  textMessage,
  textPart,
  tinyPdf,
} from './mime.ts';

export interface Draft {
  kind: DemoKind;
  subject: string;
  build(common: Common): string;
  from: string;
  headers?: string[];
}

const acme = mailbox('ACME Billing', `billing@${DEMO_VENDOR_DOMAIN}`);
export const monitoring = mailbox('Monitoring', 'alerts@ops.example');

export function invoice(number: string, month: string, amount: string, subject: string): Draft {
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

export function alert(subject: string, detail: string): Draft {
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

export function newsletter(
  list: string,
  listId: string,
  sender: string,
  subject: string,
  teaser: string,
): Draft {
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

export function personal(
  name: string,
  address: string,
  subject: string,
  body: string,
  headers?: string[],
): Draft {
  return {
    kind: 'personal',
    subject,
    from: mailbox(name, address),
    ...(headers ? { headers } : {}),
    build: (c) => textMessage(c, body),
  };
}

export const prize: Draft = {
  kind: 'prize',
  subject: 'Herzlichen Glückwunsch! Sie sind Gewinner beim großen Gewinnspiel 🎉',
  from: mailbox('Preis-Zentrale', 'gewinner@lucky-draw.example'),
  build: (c) =>
    textMessage(
      c,
      'Sie wurden als Gewinner eines iPhone ausgewählt!\nBestätigen Sie jetzt Ihre Daten: http://lucky-draw.example/claim\n',
    ),
};

export const bounce: Draft = {
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

export const autoReply: Draft = {
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
