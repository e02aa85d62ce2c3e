/**
 * The `webhook` action: a JSON POST signed with HMAC-SHA256, with a timeout
 * and retries with exponential backoff and jitter.
 *
 * Signature (verify it on the receiving side, in constant time):
 *   X-Postroom-Timestamp: <unix seconds>
 *   X-Postroom-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *   X-Postroom-Delivery:  <stable id of this (message, rule, action)>: the same on every retry,
 *                         so a receiver can drop a delivery it has already seen.
 * The timestamp is signed so a captured request cannot be replayed later.
 */
import { createHmac } from 'node:crypto';
import { PostroomError } from '../errors.ts';
import type { WebhookSender } from '../ports.ts';

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface WebhookSenderOptions {
  /** First backoff delay; doubles each retry, with jitter. @default 500 */
  baseDelayMs?: number;
  fetch?: typeof fetch;
}

export function createWebhookSender(options: WebhookSenderOptions = {}): WebhookSender {
  const baseDelay = options.baseDelayMs ?? 500;
  const doFetch = options.fetch ?? fetch;
  return async (request) => {
    const body = JSON.stringify(request.body);
    const retries = request.retries ?? 3;
    const host = new URL(request.url).host;
    let lastProblem = '';
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      const timestamp = Math.floor(Date.now() / 1000);
      try {
        const response = await doFetch(request.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'postroom-webhook/1',
            'x-postroom-timestamp': String(timestamp),
            'x-postroom-signature': signWebhook(request.secret, timestamp, body),
            'x-postroom-delivery': request.deliveryId,
          },
          body,
          signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
          redirect: 'error',
        });
        await response.body?.cancel().catch(() => {});
        if (response.ok) return { status: response.status, attempts: attempt };
        lastProblem = `HTTP ${response.status}`;
        // Other 4xx answers will not change on retry: the request itself is wrong.
        if (response.status < 500 && response.status !== 429 && response.status !== 408) break;
      } catch (error) {
        lastProblem = (error as Error).name === 'TimeoutError' ? 'timed out' : fetchProblem(error);
      }
      if (attempt <= retries) {
        const delay = baseDelay * 2 ** (attempt - 1);
        await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
      }
    }
    throw new PostroomError('WEBHOOK_FAILED', `webhook to ${host} failed: ${lastProblem}`, {
      retryable: true,
      context: { host },
    });
  };
}

/**
 * Why fetch failed: undici says only "fetch failed" and keeps the reason (a
 * refused connection, an unknown host, a bad certificate) in `cause`, for
 * several addresses tried in an AggregateError.
 */
export function fetchProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (!(cause instanceof Error)) return message;
  const inner = cause instanceof AggregateError && cause.errors[0] instanceof Error ? cause.errors[0] : cause;
  const code = (inner as { code?: unknown }).code;
  const detail = inner.message || (typeof code === 'string' ? code : '');
  if (detail === '') return message;
  return `${message}: ${typeof code === 'string' && !detail.includes(code) ? `${code} ` : ''}${detail}`;
}
