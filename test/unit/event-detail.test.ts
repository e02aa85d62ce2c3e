import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '#lib/config/schema.ts';
import { eventJsonSchemaText } from '#lib/core/event-schema.ts';
import { toEvent } from '#lib/core/outward-actions.ts';
import { cutUtf8, DETAIL_ITEMS, EVENT_MAX_BYTES, mailDetail, subAddress } from '#lib/mime/event-detail.ts';
import { parseMessage } from '#lib/rules/message.ts';
import { evaluate } from '#lib/rules/planner.ts';
import { ticketReply } from '../fixtures/machine-mail.ts';
import { textMessage } from '../fixtures/messages.ts';
import { assertValidEvent } from '../helpers/event-schema.ts';
import { queueMessage } from '../helpers/factories.ts';

describe('postroom.event.schema.json', () => {
  it('matches the zod schema (regenerate with `npm run schema`)', () => {
    expect(readFileSync('postroom.event.schema.json', 'utf8')).toBe(eventJsonSchemaText());
  });

  it('refuses an event that breaks the contract', () => {
    const event = toEvent(queueMessage(1), {
      rule: 'r',
      key: 'r#0',
      kind: 'emit',
      detailType: 'x.y',
    });
    expect(() => assertValidEvent(event)).not.toThrow();
    expect(() =>
      assertValidEvent({ ...event, detail: { ...event.detail, attachments: [{ size: -1 }] } }),
    ).toThrow(/attachments/);
    expect(() => assertValidEvent({ ...event, source: 'other' })).toThrow(/source/);
  });
});

describe('event detail', () => {
  it('carries text, reply, attachments, headers, thread, recipient tag, spam and classification', async () => {
    // Prepare
    const parsed = await parseMessage(ticketReply());
    const message = queueMessage(7);

    // Act
    const detail = await mailDetail(message, parsed, {
      items: DETAIL_ITEMS,
      attachmentKey: (n, name) => `attachments/${n}-${name}`,
    });

    // Assess
    expect(detail.text).toContain('the printer works again');
    expect(detail.hasHtml).toBe(true);
    expect(detail.reply).toBe('Thanks, the printer works again after the restart.\n\nCarl');
    expect(detail.attachments).toEqual([
      {
        filename: 'status report.pdf',
        contentType: 'application/pdf',
        size: 32,
        disposition: 'attachment',
        key: 'attachments/1-status report.pdf',
      },
    ]);
    expect(detail.headers).toMatchObject({
      'reply-to': 'carl.private@customer.example',
      'in-reply-to': '<ticket-123.1@postroom.test>',
      'x-spam-status': expect.stringContaining('score=1.2'),
    });
    expect(detail.thread).toEqual({
      messageId: '<reply-1.carl@customer.example>',
      inReplyTo: '<ticket-123.1@postroom.test>',
      references: ['<ticket-123.0@postroom.test>', '<ticket-123.1@postroom.test>'],
    });
    expect(detail.recipient).toEqual({ address: 'support+ticket-123@postroom.test', tag: 'ticket-123' });
    expect(detail.spam).toEqual({
      flagged: false,
      score: 1.2,
      threshold: 5,
      tests: ['BAYES_00', 'DKIM_SIGNED'],
    });
    expect(detail.classification).toEqual({ autoReply: false, bulk: false, list: true });
    expect(detail.truncated).toBeUndefined();
    assertValidEvent(toEvent(message, { rule: 'r', key: 'r#0', kind: 'emit', detailType: 't' }, detail));
  });

  it('caps the text at textMaxBytes and says so; reads the Gmail thread id when the queue message has one', async () => {
    const parsed = await parseMessage(textMessage(1, { bytes: 200_000 }));
    const message = {
      ...queueMessage(2),
      gmail: { msgId: '1829372817263000001', threadId: '1829372817263', labels: [] },
    };
    const detail = await mailDetail(message, parsed, { items: ['text', 'thread'], textMaxBytes: 1000 });
    expect(Buffer.byteLength(detail.text as string)).toBeLessThanOrEqual(1000);
    expect(detail.truncated).toBe(true);
    expect(detail.thread).toMatchObject({ gmailThreadId: '1829372817263' });
  });

  it('keeps every event under the EventBridge limit, cutting the text first', async () => {
    const message = queueMessage(3);
    const action = { rule: 'r', key: 'r#0', kind: 'emit' as const, detailType: 't' };
    const attachments = Array.from({ length: 5000 }, (_, i) => ({
      filename: `scan-${i}.png`,
      contentType: 'image/png',
      size: i,
      disposition: 'attachment',
    }));
    const event = toEvent(message, action, {
      text: 'x'.repeat(200 * 1024),
      reply: 'y'.repeat(150 * 1024),
      attachments,
    });
    const size = Buffer.byteLength(JSON.stringify(event));
    expect(size).toBeLessThanOrEqual(EVENT_MAX_BYTES);
    expect(event.detail.truncated).toBe(true);
    expect((event.detail.text as string).length).toBe(0);
    expect((event.detail.attachments as unknown[]).length).toBeGreaterThan(0);
    assertValidEvent(event);
  });

  it('cuts UTF-8 on character boundaries, and reads sub-addresses', () => {
    expect(cutUtf8('aä€', 3)).toEqual({ text: 'aä', cut: true });
    expect(cutUtf8('aä€', 6)).toEqual({ text: 'aä€', cut: false });
    expect(subAddress('support+ticket-123@example.com')).toBe('ticket-123');
    expect(subAddress('support@example.com')).toBeUndefined();
    expect(subAddress('support+@example.com')).toBeUndefined();
  });
});

describe('config: events and emit detail', () => {
  it('accepts events.detail globally and emit: { detailType, detail } per rule, and plans them', () => {
    const config = configSchema.parse({
      events: { detail: ['text', 'thread'], textMaxBytes: 4096 },
      rules: [
        { name: 'r', then: [{ emit: { detailType: 'ticket.reply', detail: ['reply', 'attachments'] } }] },
      ],
    });
    expect(config.events).toEqual({ detail: ['text', 'thread'], textMaxBytes: 4096 });
    const { actions } = evaluate({ from: [], to: [], cc: [], warnings: [] }, config.rules, {
      account: 'a',
      mailbox: 'INBOX',
    });
    expect(actions).toEqual([
      { rule: 'r', key: 'r#0', kind: 'emit', detailType: 'ticket.reply', detail: ['reply', 'attachments'] },
    ]);
  });

  it('refuses an unknown detail item and a cap past what fits an event', () => {
    const bad = configSchema.safeParse({
      events: { detail: ['txt'], textMaxBytes: 300 * 1024 },
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['events.detail.0', 'events.textMaxBytes']));
  });
});
