import { describe, expect, it } from 'vitest';
import { BlobNotFoundError, describeError, isPostroomError, PostroomError } from '#lib/errors.ts';

describe('Postroom errors', () => {
  it('are recognised by their code after a JSON round trip, where instanceof no longer holds', () => {
    // Prepare
    const error = new BlobNotFoundError('raw/a/INBOX/1/2.eml');
    // Act
    const revived: unknown = JSON.parse(JSON.stringify(error));
    // Assess
    expect(revived instanceof PostroomError).toBe(false);
    expect(isPostroomError(revived)).toBe(true);
    expect(revived).toMatchObject({ code: 'BLOB_NOT_FOUND', retryable: false, key: 'raw/a/INBOX/1/2.eml' });
    expect(describeError(revived)).toEqual({
      code: 'BLOB_NOT_FOUND',
      message: 'no blob at raw/a/INBOX/1/2.eml',
    });
  });

  it('are not claimed for values without a string code and message', () => {
    expect(isPostroomError(new Error('plain'))).toBe(false);
    expect(isPostroomError({ code: 42, message: 'numeric code' })).toBe(false);
    expect(isPostroomError({ code: 'X_Y' })).toBe(false);
    expect(isPostroomError('CONNECTION_LOST')).toBe(false);
    expect(isPostroomError(null)).toBe(false);
  });

  it('describes anything thrown as a code and a line of text', () => {
    expect(describeError(new TypeError('bad'))).toEqual({ code: 'TypeError', message: 'bad' });
    expect(describeError('just text')).toEqual({ code: 'UNKNOWN', message: 'just text' });
  });
});
