/**
 * The `webhook` action end to end: a rule fires on mail polled from Dovecot,
 * and the local driver POSTs to a receiver on 127.0.0.1 that checks the
 * HMAC-SHA256 signature and fails on purpose before it accepts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createProcessHarness,
  type ProcessHarness,
  ruleFixture,
  WEBHOOK_SECRET,
} from '../helpers/process-harness.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

const open: { harness?: ProcessHarness; server?: WebhookServer }[] = [];
afterEach(async () => {
  for (const { harness, server } of open.splice(0)) {
    await harness?.close();
    await server?.close();
  }
});

function webhookRule(url: string, secretEnv = 'POSTROOM_WEBHOOK_SECRET', retries = 3) {
  return {
    name: 'alert-hook',
    when: { subject: '[alert]' },
    then: [{ flag: 'hooked' }, { webhook: { url, secret: { env: secretEnv }, timeoutMs: 5000, retries } }],
  };
}

describe('webhook action', () => {
  it('retries a failing receiver until it accepts: three signed attempts, one delivery id, one acceptance', async () => {
    // Prepare
    const server = await startWebhookServer({ secret: WEBHOOK_SECRET, failFirst: 2, failStatus: 500 });
    const harness = await createProcessHarness({ rules: [webhookRule(server.url)] });
    open.push({ harness, server });
    const [uid] = await harness.append([ruleFixture('alert.eml'), ruleFixture('plain.eml')]);
    await harness.poll();

    // Act
    const results = await harness.drain();

    // Assess
    expect(server.calls).toHaveLength(3);
    expect(server.calls.map((c) => c.status)).toEqual([500, 500, 204]);
    expect(server.accepted()).toHaveLength(1);
    expect(server.calls.every((c) => c.signatureValid)).toBe(true);
    const ids = new Set(server.calls.map((c) => c.headers['x-postroom-delivery']));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/alert-hook#1#webhook$/);
    expect(server.calls[0]!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(server.accepted()[0]!.body);
    expect(body).toMatchObject({
      v: 1,
      account: 'test',
      mailbox: 'INBOX',
      uid,
      rule: 'alert-hook',
      messageId: '<alert-1@ops.example>',
      envelope: { subject: '[ALERT] disk full on db1' },
    });
    const item = results.flatMap((r) => r.items).find((i) => i.uid === uid)!;
    expect(item.status).toBe('done');
    expect(item.actions).toContainEqual({
      rule: 'alert-hook',
      kind: 'webhook',
      detail: new URL(server.url).host,
      status: 'done',
    });
    expect(harness.queue.stats()).toMatchObject({ queued: 0, inFlight: 0, deadLetter: 0 });
  });

  it('does not call the webhook again when the message is redelivered', async () => {
    // Prepare
    const server = await startWebhookServer({ secret: WEBHOOK_SECRET });
    const harness = await createProcessHarness({ rules: [webhookRule(server.url)] });
    open.push({ harness, server });
    await harness.append([ruleFixture('alert.eml')]);
    await harness.poll();
    const { items } = await harness.receive();
    await harness.process(items);

    // Act
    const again = await harness.process(items.map((i) => ({ ...i, receiveCount: 2 })));

    // Assess
    expect(server.calls).toHaveLength(1);
    expect(again.items[0]!.status).toBe('done');
    expect(again.items[0]!.actions.map((a) => a.status)).toEqual(['already-done', 'already-done']);
  });

  it('keeps the message queued when the receiver rejects the signature, and repeats only the webhook', async () => {
    // Prepare: the receiver knows another secret, so every signature is wrong (401, not retried).
    const server = await startWebhookServer({ secret: 'the-receiver-has-another-secret' });
    const harness = await createProcessHarness({ rules: [webhookRule(server.url)] });
    open.push({ harness, server });
    const [uid] = await harness.append([ruleFixture('alert.eml')]);
    await harness.poll();

    // Act
    const first = await harness.drain();
    const second = await harness.drain();

    // Assess
    expect(server.calls.map((c) => [c.signatureValid, c.status])).toEqual([
      [false, 401],
      [false, 401],
    ]);
    const [firstItem] = first[0]!.items;
    expect(firstItem).toMatchObject({ uid, status: 'failed', error: { code: 'WEBHOOK_FAILED' } });
    expect(firstItem!.error!.message).not.toContain('the-receiver-has-another-secret');
    expect(firstItem!.error!.message).not.toContain(WEBHOOK_SECRET);
    // The flag was done and recorded the first time: the retry only repeats the webhook.
    expect(firstItem!.actions.map((a) => [a.kind, a.status])).toEqual([
      ['flag', 'done'],
      ['webhook', 'failed'],
    ]);
    expect(second[0]!.items[0]!.actions.map((a) => [a.kind, a.status])).toEqual([
      ['flag', 'already-done'],
      ['webhook', 'failed'],
    ]);
    expect((await harness.flags()).get(uid!)).toContain('hooked');
    expect(harness.queue.stats()).toMatchObject({ queued: 1, deadLetter: 0 });
  });
});
