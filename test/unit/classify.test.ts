/**
 * The classifier on Postroom's own fixtures (test/fixtures/machine-mail.ts)
 * and on the real bounces and complaints of the public corpus
 * (`POSTROOM_CORPUS_DIR`, as test/unit/corpus.test.ts).
 */
import { createReadStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bounceOf, complaintOf } from '#lib/mime/classify.ts';
import { matchCondition } from '#lib/rules/matcher.ts';
import { parseMessage, toRuleInput } from '#lib/rules/message.ts';
import {
  arfComplaint,
  dsnBounce,
  dsnDelay,
  eximBounce,
  ORIGINAL_MESSAGE_ID,
  qmailBounce,
  ticketReply,
  vacationReply,
} from '../fixtures/machine-mail.ts';
import { textMessage } from '../fixtures/messages.ts';

async function classify(raw: Buffer | NodeJS.ReadableStream) {
  const parsed = await parseMessage(raw as Buffer);
  const input = toRuleInput(undefined, parsed);
  return {
    bounce: bounceOf(parsed),
    complaint: complaintOf(parsed),
    is: {
      bounce: matchCondition({ bounce: true }, input),
      complaint: matchCondition({ complaint: true }, input),
      autoReply: matchCondition({ autoReply: true }, input),
    },
  };
}

describe('classification of the fixtures', () => {
  it('reads an RFC 3464 DSN: action, status, failed recipient, original Message-ID', async () => {
    const { bounce, is } = await classify(dsnBounce());
    expect(bounce).toMatchObject({
      format: 'dsn',
      action: 'failed',
      status: '5.1.1',
      permanent: true,
      recipient: 'gone@customer.example',
      originalMessageId: ORIGINAL_MESSAGE_ID,
    });
    expect(is).toEqual({ bounce: true, complaint: false, autoReply: true });
  });

  it('a delay notice is a DSN but not a bounce', async () => {
    const { bounce, is } = await classify(dsnDelay());
    expect(bounce).toMatchObject({ action: 'delayed', status: '4.4.1', permanent: false });
    expect(is.bounce).toBe(false);
  });

  it.each([
    ['qmail', qmailBounce(), 'old.address@partner.example', '5.1.1'],
    ['exim', eximBounce(), 'full.mailbox@partner.example', '5.2.2'],
  ])('reads a %s plain-text bounce', async (format, raw, recipient, status) => {
    const { bounce, is } = await classify(raw);
    expect(bounce).toMatchObject({
      format,
      action: 'failed',
      recipient,
      status,
      originalMessageId: ORIGINAL_MESSAGE_ID,
    });
    expect(is.bounce).toBe(true);
  });

  it('reads an ARF complaint (RFC 5965), the original inline', async () => {
    const { complaint, is } = await classify(arfComplaint());
    expect(complaint).toEqual({
      feedbackType: 'abuse',
      userAgent: 'ISP-FBL/2.1',
      originalRecipient: 'reader@isp.example',
      originalMailFrom: 'bounces@shop.example',
      sourceIp: '192.0.2.25',
      reportedDomain: 'shop.example',
      originalMessageId: ORIGINAL_MESSAGE_ID,
    });
    expect(is).toEqual({ bounce: false, complaint: true, autoReply: false });
  });

  it('a vacation reply, a reply and plain mail are neither bounces nor complaints', async () => {
    for (const raw of [vacationReply(), ticketReply(), textMessage(1)]) {
      const { bounce, complaint } = await classify(raw);
      expect(bounce).toBeUndefined();
      expect(complaint).toBeUndefined();
    }
    expect((await classify(vacationReply())).is.autoReply).toBe(true);
  });
});

const root = fileURLToPath(new URL('../..', import.meta.url));
const corpusDir = resolve(root, process.env.POSTROOM_CORPUS_DIR ?? '../shared/corpus/public');
const present = existsSync(join(corpusDir, 'MANIFEST.tsv'));

describe.skipIf(!present)(`classification of the public corpus (skipped: no corpus in ${corpusDir})`, () => {
  const file = (name: string) => createReadStream(join(corpusDir, name));

  it.each([
    ['nodemailer__delivery-status.eml', 'dsn', '5.1.1', 'xxxx@xxxx.com'],
    ['flanker__bounce__mailbox-full.eml', 'dsn', '5.2.2', 'user@aol.com'],
    ['flanker__bounce__office365.eml', 'dsn', '5.1.10', 'noname@example.com'],
    ['flanker__bounce__zed.eml', 'dsn', '5.1.1', undefined],
    ['flanker__bounce__gmail-invalid-address.eml', 'gmail', '5.1.0', 'awfawfawfawfawfaw@someserverhere.com'],
    ['rubymail__multipart_report_emails__multipart_report_multiple_status.eml', 'dsn', '5.3.0', 'u@ci.com'],
  ])('%s is a %s bounce (%s)', async (name, format, status, recipient) => {
    const { bounce, is } = await classify(file(name));
    expect(bounce).toMatchObject({ format, action: 'failed', status, ...(recipient ? { recipient } : {}) });
    expect(is.bounce).toBe(true);
  });

  it.each(['flanker__bounce__no-mx.eml', 'rubymail__multipart_report_emails__report_422.eml'])(
    '%s is a delay notice, not a bounce',
    async (name) => {
      const { bounce, is } = await classify(file(name));
      expect(bounce).toMatchObject({ action: 'delayed', permanent: false });
      expect(is.bounce).toBe(false);
    },
  );

  it.each([
    ['flanker__complaints__aol.eml', { feedbackType: 'abuse', sourceIp: '173.193.210.34' }],
    ['flanker__complaints__yahoo.eml', { feedbackType: 'abuse', originalRecipient: 'user@yahoo.com' }],
  ])('%s is a complaint', async (name, expected) => {
    const { complaint, is } = await classify(file(name));
    expect(complaint).toMatchObject(expected);
    expect(is).toMatchObject({ complaint: true, bounce: false });
  });

  it('finds no bounce or complaint in ordinary mail of the corpus', async () => {
    for (const name of ['flanker__attached-pdf.eml', 'nodemailer__nodemailer.eml', 'flanker__iphone.eml']) {
      const { bounce, complaint } = await classify(file(name));
      expect({ name, bounce, complaint }).toEqual({ name, bounce: undefined, complaint: undefined });
    }
  });
});
