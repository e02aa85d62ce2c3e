/**
 * The process use case under a time budget, as the process Lambda runs it:
 * IMAP sessions get the batch's deadline, and once the deadline has passed (or
 * the handler's abort signal fired) no new work starts. What was not reached
 * fails retryable, so the queue delivers it again; nothing is acknowledged
 * that was not done.
 */
import { describe, expect, it } from 'vitest';
import type { SessionOptions } from '#lib/ports.ts';
import { textMessage } from '../fixtures/messages.ts';
import { itemsByUid, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

const flagAndEmit = [
  { name: 'all', when: { all: [] }, then: [{ flag: 'seen-by-rule' }, { emit: 'mail.seen' }] },
];

describe('process within a time budget', () => {
  it('opens each IMAP session with the batch deadline', async () => {
    // Prepare
    const harness = await harnessWith({ rules: flagAndEmit });
    const [uid] = await harness.append([textMessage(1)]);
    await harness.poll();
    const { items } = await harness.receive();
    const opened: (SessionOptions | undefined)[] = [];
    const deadline = Date.now() + 60_000;
    // Act
    const result = await harness.process(
      items,
      {
        openSession: (account, options) => {
          opened.push(options);
          return harness.runtime.openSession(account, options);
        },
      },
      { deadline },
    );
    // Assess
    expect(opened).toEqual([{ deadline }]);
    expect(result.items.map((i) => i.status)).toEqual(['done']);
    expect((await harness.flags()).get(uid!)).toContain('seen-by-rule');
  });

  it('starts nothing once the deadline has passed: every message fails retryable and stays queued', async () => {
    // Prepare
    const harness = await harnessWith({ rules: flagAndEmit });
    const uids = await harness.append([textMessage(1), textMessage(2)]);
    await harness.poll();
    const { items } = await harness.receive();
    let sessions = 0;
    // Act
    const result = await harness.process(
      items,
      {
        openSession: async () => {
          sessions += 1;
          throw new Error('no session should be opened past the deadline');
        },
      },
      { deadline: Date.now() - 1 },
    );
    // Assess
    expect(sessions).toBe(0);
    expect(result.failed).toBe(2);
    for (const item of result.items) {
      expect(item.status).toBe('failed');
      expect(item.error?.code).toBe('PROCESS_OUT_OF_TIME');
      expect(item.actions).toEqual([]);
    }
    expect(harness.events()).toEqual([]);
    for (const uid of uids) expect((await harness.flags()).get(uid)).not.toContain('seen-by-rule');
    // Received and never acknowledged: both still belong to the queue.
    expect(harness.queue.stats()).toEqual({ queued: 0, inFlight: 2, deadLetter: 0 });
  });

  it('stops between messages when the handler is aborted, and the redelivery finishes the rest', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        {
          name: 'hook',
          when: { all: [] },
          then: [{ webhook: { url: 'http://127.0.0.1:9/hook', secret: { env: 'POSTROOM_WEBHOOK_SECRET' } } }],
        },
      ],
    });
    const [first, second] = await harness.append([textMessage(1), textMessage(2)]);
    await harness.poll();
    const { items } = await harness.receive();
    items.sort((a, b) => a.message.uid - b.message.uid);
    const abort = new AbortController();
    const delivered: number[] = [];
    const sendWebhook = async (request: { body: unknown }) => {
      delivered.push((request.body as { uid: number }).uid);
      // The handler's early timeout fires while the first webhook is out.
      abort.abort();
      return { status: 200, attempts: 1 };
    };
    // Act
    const result = await harness.process(items, { sendWebhook }, { signal: abort.signal });
    const redelivered = await harness.process(
      items.filter((i) => i.message.uid === second).map((i) => ({ ...i, receiveCount: 2 })),
      { sendWebhook },
    );
    // Assess
    const byUid = itemsByUid([result]);
    expect(byUid.get(first!)?.status).toBe('done');
    expect(byUid.get(second!)).toMatchObject({ status: 'failed', error: { code: 'PROCESS_OUT_OF_TIME' } });
    expect(redelivered.items.map((i) => i.status)).toEqual(['done']);
    expect(delivered).toEqual([first, second]);
  });
});
