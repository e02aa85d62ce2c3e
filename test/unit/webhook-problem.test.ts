import { describe, expect, it } from 'vitest';
import { fetchProblem } from '#lib/adapters/webhook-sender.ts';

/** What undici throws: "fetch failed", with the reason in `cause`. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('why a webhook request failed', () => {
  it('adds the cause to "fetch failed"', () => {
    expect(fetchProblem(fetchFailed(systemError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9')))).toBe(
      'fetch failed: connect ECONNREFUSED 127.0.0.1:9',
    );
    expect(fetchProblem(fetchFailed(systemError('CERT_HAS_EXPIRED', 'certificate has expired')))).toBe(
      'fetch failed: CERT_HAS_EXPIRED certificate has expired',
    );
  });

  it('takes the first address tried from an AggregateError (IPv6 and IPv4 both refused)', () => {
    const both = new AggregateError(
      [
        systemError('ECONNREFUSED', 'connect ECONNREFUSED ::1:9'),
        systemError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9'),
      ],
      '',
    );
    expect(fetchProblem(fetchFailed(both))).toBe('fetch failed: connect ECONNREFUSED ::1:9');
  });

  it('keeps the message as it is without a cause', () => {
    expect(fetchProblem(new Error('fetch failed'))).toBe('fetch failed');
    expect(fetchProblem('odd')).toBe('odd');
  });
});
