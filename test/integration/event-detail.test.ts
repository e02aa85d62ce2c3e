/**
 * Events that explain the mail, end to end: APPEND → poll → the local driver →
 * events.jsonl (every line validated against postroom.event.schema.json by
 * the harness). Detail per rule and globally, attachment keys of
 * saveAttachments, sender verdicts only from the account's own
 * authserv-id, bounces and complaints as conditions and in the detail.
 */
import { describe, expect, it } from 'vitest';
import { mailboxKeySegment } from '#lib/core/keys.ts';
import {
  acmeInvoice,
  arfComplaint,
  dsnBounce,
  dsnDelay,
  ORIGINAL_MESSAGE_ID,
  ticketReply,
  vacationReply,
} from '../fixtures/machine-mail.ts';
import { textMessage } from '../fixtures/messages.ts';
import { allActions, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

const TRUSTED =
  'Authentication-Results: mx.postroom.test; dkim=pass header.d=acme.example header.s=s1; spf=pass smtp.mailfrom=billing@acme.example; dmarc=pass header.from=acme.example';

describe('event detail through the whole pipeline', () => {
  it('carries the reply, the saved attachments with their keys, the thread and the recipient tag', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        {
          name: 'ticket-replies',
          when: { recipient: { regex: '^support\\+ticket-' } },
          then: [
            {
              emit: {
                detailType: 'ticket.reply',
                detail: ['reply', 'attachments', 'thread', 'recipient'],
                textMaxBytes: 4096,
              },
            },
            { saveAttachments: { prefix: 'attachments/tickets/' } },
          ],
        },
        { name: 'everything', then: [{ emit: 'mail.received' }] },
      ],
      events: { detail: ['text', 'headers'], textMaxBytes: 20 },
    });
    const [uid] = await harness.append([ticketReply()]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    expect(allActions(results).map((a) => a.status)).toEqual(['done', 'done', 'done']);
    const [reply, received] = harness.events();
    const detail = reply!.detail;
    const base = `attachments/tickets/test/${mailboxKeySegment('INBOX')}/${detail.uidValidity}/${uid}/`;
    expect(reply!['detail-type']).toBe('ticket.reply');
    expect(detail).toMatchObject({
      uid,
      rule: 'ticket-replies',
      hasHtml: true,
      reply: 'Thanks, the printer works again after the restart.\n\nCarl',
      attachments: [
        {
          filename: 'status report.pdf',
          contentType: 'application/pdf',
          size: 32,
          disposition: 'attachment',
          key: `${base}1-status report.pdf`,
        },
      ],
      thread: { messageId: '<reply-1.carl@customer.example>', inReplyTo: '<ticket-123.1@postroom.test>' },
      recipient: { address: 'support+ticket-123@postroom.test', tag: 'ticket-123' },
    });
    expect(detail.text).toBeUndefined(); // the rule's own list replaces the global one
    // The key names what saveAttachments stored.
    expect(await harness.runtime.stores.blobs.get(`${base}1-status report.pdf`)).toBeDefined();
    // The global detail, with its text cap.
    expect(received!.detail).toMatchObject({
      text: 'Thanks, the printer ',
      truncated: true,
      headers: { 'reply-to': 'carl.private@customer.example', 'list-id': 'Not a list <ignored.example>' },
    });
    expect(received!.detail.reply).toBeUndefined();
  });

  it('trusts only the Authentication-Results of the account authserv-id: a forged one does not count', async () => {
    // Prepare
    const harness = await harnessWith({
      accountSettings: { authservId: 'mx.postroom.test' },
      rules: [
        {
          name: 'verified-acme',
          when: { all: [{ from: { domain: 'acme.example' } }, { auth: { dmarc: 'pass' } }] },
          then: [{ emit: { detailType: 'invoice.verified', detail: ['auth'] } }],
          stop: true,
        },
        {
          name: 'unverified-acme',
          when: { from: { domain: 'acme.example' } },
          then: [{ flag: 'unverified' }, { emit: { detailType: 'invoice.unverified', detail: ['auth'] } }],
        },
      ],
    });
    const forgedElsewhere =
      'Authentication-Results: mx.evil.example; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example';
    // A header naming our server, but below our server's own (written by the sender before it arrived).
    const forgedBelow = [
      'Authentication-Results: mx.postroom.test; dkim=none; spf=fail smtp.mailfrom=acme.example; dmarc=fail header.from=acme.example',
      'Received: from evil.example (evil.example [203.0.113.66]) by mx.postroom.test',
      'Authentication-Results: mx.postroom.test; dmarc=pass header.from=acme.example',
    ];
    const [real, elsewhere, below] = await harness.append([
      acmeInvoice(1, [TRUSTED]),
      acmeInvoice(2, [forgedElsewhere]),
      acmeInvoice(3, forgedBelow),
    ]);
    await harness.poll();

    // Act
    await harness.drain();

    // Assess
    const events = harness
      .events()
      .map((e) => ({ type: e['detail-type'], uid: e.detail.uid, auth: e.detail.auth }));
    expect(events).toEqual([
      {
        type: 'invoice.verified',
        uid: real,
        auth: {
          source: 'header',
          authservId: 'mx.postroom.test',
          dkim: [{ result: 'pass', domain: 'acme.example', selector: 's1' }],
          spf: { result: 'pass', domain: 'acme.example' },
          dmarc: { result: 'pass', domain: 'acme.example' },
          arc: { result: 'none' },
        },
      },
      {
        type: 'invoice.unverified',
        uid: elsewhere,
        auth: {
          source: 'none',
          dkim: [],
          spf: { result: 'none' },
          dmarc: { result: 'none' },
          arc: { result: 'none' },
        },
      },
      {
        type: 'invoice.unverified',
        uid: below,
        auth: expect.objectContaining({
          source: 'header',
          dmarc: { result: 'fail', domain: 'acme.example' },
        }),
      },
    ]);
    const flags = await harness.flags();
    expect(flags.get(real)).not.toContain('unverified');
    expect(flags.get(elsewhere)).toContain('unverified');
    expect(flags.get(below)).toContain('unverified');
  });

  it('classifies bounces and complaints, as conditions and in the detail', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        {
          name: 'bounces',
          when: { bounce: true },
          then: [{ flag: 'bounce' }, { emit: { detailType: 'mail.bounced', detail: ['classification'] } }],
          stop: true,
        },
        {
          name: 'complaints',
          when: { complaint: true },
          then: [{ emit: { detailType: 'mail.complaint', detail: ['classification'] } }],
          stop: true,
        },
        { name: 'auto-replies', when: { autoReply: true }, then: [{ flag: 'auto-reply' }] },
      ],
    });
    const [bounce, delay, complaint, vacation, plain] = await harness.append([
      dsnBounce(),
      dsnDelay(),
      arfComplaint(),
      vacationReply(),
      textMessage(1),
    ]);
    await harness.poll();

    // Act
    await harness.drain();

    // Assess
    const events = harness.events();
    expect(events.map((e) => [e['detail-type'], e.detail.uid])).toEqual([
      ['mail.bounced', bounce],
      ['mail.complaint', complaint],
    ]);
    expect(events[0]!.detail.classification).toEqual({
      bounce: {
        format: 'dsn',
        action: 'failed',
        status: '5.1.1',
        permanent: true,
        recipient: 'gone@customer.example',
        diagnostic: '550 5.1.1 <gone@customer.example>: Recipient address rejected: User unknown',
        remoteMta: 'mx.customer.example',
        reportingMta: 'mx1.shop.example',
        originalMessageId: ORIGINAL_MESSAGE_ID,
      },
      autoReply: true,
      bulk: false,
      list: false,
    });
    expect(events[1]!.detail.classification).toMatchObject({
      complaint: {
        feedbackType: 'abuse',
        originalRecipient: 'reader@isp.example',
        sourceIp: '192.0.2.25',
        originalMessageId: ORIGINAL_MESSAGE_ID,
      },
    });
    const flags = await harness.flags();
    expect(flags.get(bounce)).toContain('bounce');
    expect(flags.get(delay)).toContain('auto-reply'); // a delay notice is not a bounce
    expect(flags.get(delay)).not.toContain('bounce');
    expect(flags.get(vacation)).toContain('auto-reply');
    expect(flags.get(plain)).toEqual([]);
  });
});
