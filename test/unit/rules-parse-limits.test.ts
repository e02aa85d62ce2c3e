/**
 * Poison isolation at the parser: every hostile message ends in a settled parse
 * with `ok: false` and the reason, quickly, and attachments readers reject
 * instead of waiting.
 */
import { describe, expect, it } from 'vitest';
import { MessageParseError, parseMessage, readAttachments, toRuleInput } from '#lib/rules/message.ts';
import { attachmentMessage, textMessage } from '../fixtures/messages.ts';
import { deepMessage, manyPartsMessage, parserErrorMessage } from '../fixtures/poison-messages.ts';

async function drainAttachments(
  raw: Buffer,
  limits?: Parameters<typeof readAttachments>[1],
): Promise<number> {
  let n = 0;
  for await (const part of readAttachments(raw, limits)) {
    for await (const _ of part.content) {
      // read it all
    }
    n += 1;
  }
  return n;
}

describe('parseMessage limits', () => {
  it.each([1000, 10_000])('gives up on %i MIME parts with the reason, in seconds', async (parts) => {
    // Act
    const started = Date.now();
    const parsed = await parseMessage(manyPartsMessage(parts));

    // Assess
    expect(parsed.ok).toBe(false);
    expect(parsed.failure).toEqual({ kind: 'limit', reason: 'more than 1000 MIME parts' });
    expect(parsed.warnings).toEqual(['message could not be parsed: more than 1000 MIME parts']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('still parses a message with a few hundred parts', async () => {
    // Act
    const parsed = await parseMessage(manyPartsMessage(300));

    // Assess
    expect(parsed.ok).toBe(true);
    expect(parsed.attachments).toHaveLength(300);
  });

  it('reports an error of the parser (an oversized header block) as the reason', async () => {
    // Act
    const parsed = await parseMessage(parserErrorMessage());

    // Assess
    expect(parsed.ok).toBe(false);
    expect(parsed.failure).toEqual({ kind: 'limit', reason: 'a MIME header block larger than 262144 bytes' });
  });

  it('refuses parts nested deeper than maxDepth and accepts them within it', async () => {
    // Act
    const deep = await parseMessage(deepMessage(60));
    const fine = await parseMessage(deepMessage(40));

    // Assess
    expect(deep.failure).toEqual({ kind: 'limit', reason: 'MIME parts nested deeper than 50' });
    expect(fine.ok).toBe(true);
    expect(fine.attachments).toHaveLength(1);
  });

  it('refuses more decoded bytes than maxDecodedBytes', async () => {
    // Act
    const parsed = await parseMessage(attachmentMessage(0, 20_000), { maxDecodedBytes: 5_000 });

    // Assess
    expect(parsed.failure).toEqual({ kind: 'limit', reason: 'more than 5000 decoded bytes' });
  });

  it('ends a parse that takes longer than timeoutMs', async () => {
    // Act
    const parsed = await parseMessage(attachmentMessage(0, 4 * 1024 * 1024), { timeoutMs: 1 });

    // Assess
    expect(parsed.failure).toEqual({ kind: 'timeout', reason: 'parsing took longer than 1 ms' });
  });

  it('keeps envelope facts for rules when the parse gave up', async () => {
    // Act
    const input = toRuleInput(
      {
        envelope: {
          subject: 'From the envelope',
          from: [{ address: 'stranger@poison.example' }],
          to: [],
          cc: [],
        },
        size: 10,
      },
      await parseMessage(manyPartsMessage(1000)),
    );

    // Assess
    expect(input.subject).toBe('From the envelope');
    expect(input.from).toEqual([{ address: 'stranger@poison.example' }]);
    expect(input.text).toBeUndefined();
    expect(input.warnings).toEqual(['message could not be parsed: more than 1000 MIME parts']);
  });

  it('leaves normal mail alone', async () => {
    // Act
    const parsed = await parseMessage(textMessage(0));

    // Assess
    expect(parsed.ok).toBe(true);
    expect(parsed.failure).toBeUndefined();
    expect(parsed.warnings).toEqual([]);
  });
});

describe('readAttachments limits', () => {
  it.each([
    ['1,000 parts', manyPartsMessage(1000), 'more than 1000 MIME parts'],
    ['a parser error', parserErrorMessage(), 'a MIME header block larger than 262144 bytes'],
    ['deep nesting', deepMessage(60), 'MIME parts nested deeper than 50'],
  ])('rejects on %s with the reason', async (_name, raw, why) => {
    // Act
    const error = await drainAttachments(raw).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(MessageParseError);
    expect((error as MessageParseError).message).toBe(`message could not be parsed: ${why}`);
  });

  it('ends the content stream the caller is reading when decoded bytes pass the limit', async () => {
    // Act
    const error = await drainAttachments(attachmentMessage(0, 50_000), { maxDecodedBytes: 10_000 }).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(MessageParseError);
    expect((error as MessageParseError).failure).toEqual({
      kind: 'limit',
      reason: 'more than 10000 decoded bytes',
    });
  });

  it('still streams every attachment of normal mail', async () => {
    // Act / Assess
    expect(await drainAttachments(attachmentMessage(0, 200_000))).toBe(1);
  });
});
