/**
 * The parser itself misbehaving (mailparser replaced): a constructor that
 * throws, a parser that errors while an attachment is open, and one that never
 * answers. Each ends the parse with the reason; none leaves a promise pending.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MessageParseError, parseMessage, readAttachments } from '#lib/rules/message.ts';

type Behaviour = 'throws' | 'errors-mid-attachment' | 'never-answers';
const state = vi.hoisted(() => ({ behaviour: 'throws' as string }));

vi.mock('mailparser', async () => {
  const { PassThrough, Transform } = await import('node:stream');
  class MailParser extends Transform {
    constructor() {
      super({ readableObjectMode: true });
      if (state.behaviour === 'throws') throw new Error('parser exploded');
    }
    override _transform(_chunk: Buffer, _encoding: string, done: () => void): void {
      done();
    }
    override _flush(): void {
      // Never calls back: the stream never ends on its own.
      if (state.behaviour !== 'errors-mid-attachment') return;
      const content = new PassThrough();
      content.write(Buffer.from('half'));
      this.push({ type: 'attachment', content, contentType: 'application/pdf', partId: '1', release() {} });
      setTimeout(() => this.emit('error', new Error('broken structure')), 20);
    }
  }
  return { MailParser };
});

const raw = Buffer.from('Subject: x\r\n\r\nbody\r\n');
const set = (behaviour: Behaviour) => {
  state.behaviour = behaviour;
};

describe('parseMessage with a misbehaving parser', () => {
  beforeEach(() => set('throws'));

  it('turns a thrown error into an unparseable result', async () => {
    // Act
    const parsed = await parseMessage(raw);

    // Assess
    expect(parsed.ok).toBe(false);
    expect(parsed.failure).toEqual({ kind: 'parser', reason: 'parser exploded' });
  });

  it('turns an error while an attachment is open into an unparseable result', async () => {
    // Prepare
    set('errors-mid-attachment');

    // Act
    const parsed = await parseMessage(raw, { timeoutMs: 5_000 });

    // Assess
    expect(parsed.failure).toEqual({ kind: 'parser', reason: 'broken structure' });
  });

  it('ends a parse that never settles at the time limit', async () => {
    // Prepare
    set('never-answers');

    // Act
    const parsed = await parseMessage(raw, { timeoutMs: 50 });

    // Assess
    expect(parsed.failure).toEqual({ kind: 'timeout', reason: 'parsing took longer than 50 ms' });
  });
});

describe('readAttachments with a misbehaving parser', () => {
  it.each([
    ['errors-mid-attachment', 'message could not be parsed: broken structure'],
    ['never-answers', 'message could not be parsed: parsing took longer than 50 ms'],
  ] as const)(
    'rejects when the parser %s, also while the caller reads a part',
    async (behaviour, message) => {
      // Prepare
      set(behaviour);

      // Act
      const error = await (async () => {
        for await (const part of readAttachments(raw, { timeoutMs: 50 })) {
          for await (const _ of part.content) {
            // read on
          }
        }
      })().catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(MessageParseError);
      expect((error as Error).message).toBe(message);
    },
  );
});
