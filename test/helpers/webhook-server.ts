/**
 * A webhook receiver on 127.0.0.1 that does what a careful one would: checks
 * the HMAC-SHA256 signature over `<timestamp>.<body>` in constant time, and
 * records every request. It can be told to fail the first N requests with a
 * status (to exercise the sender's retries).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the receiver saw it. */
export interface WebhookCall {
  headers: IncomingHttpHeaders;
  body: string;
  /** True when X-Postroom-Signature matched the body and timestamp. */
  signatureValid: boolean;
  /** What the receiver answered. */
  status: number;
}

export interface WebhookServerOptions {
  /** The shared secret the signature is checked against. */
  secret: string;
  /** Answer this many requests (after the signature check) with `failStatus`. @default 0 */
  failFirst?: number;
  /** @default 500 */
  failStatus?: number;
}

export interface WebhookServer {
  /** `http://127.0.0.1:<port>/hook` */
  url: string;
  calls: WebhookCall[];
  /** The calls answered with 2xx. */
  accepted(): WebhookCall[];
  close(): Promise<void>;
}

/** The signature header value for a body and timestamp, as the receiver recomputes it. */
export function expectedSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const calls: WebhookCall[] = [];
  let failuresLeft = options.failFirst ?? 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const timestamp = String(request.headers['x-postroom-timestamp'] ?? '');
      const given = Buffer.from(String(request.headers['x-postroom-signature'] ?? ''));
      const wanted = Buffer.from(expectedSignature(options.secret, timestamp, body));
      const signatureValid =
        timestamp !== '' && given.length === wanted.length && timingSafeEqual(given, wanted);
      let status = 204;
      if (!signatureValid) status = 401;
      else if (failuresLeft > 0) {
        failuresLeft -= 1;
        status = options.failStatus ?? 500;
      }
      calls.push({ headers: request.headers, body, signatureValid, status });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    calls,
    accepted: () => calls.filter((call) => call.status >= 200 && call.status < 300),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
