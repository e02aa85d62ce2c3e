/**
 * Microsoft 365's transient answers through the real poll use case, against
 * the scripted server playing Exchange Online (its capabilities: no
 * CONDSTORE, no QRESYNC): "User is authenticated but not connected" (which
 * ImapFlow reports as an authentication failure) and "Request is throttled"
 * are retried with backoff to success; a persisting one ends as SERVER_BUSY
 * within the session's time, saying what it may mean; a real authentication
 * failure is still one, at once, without a retry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isPostroomError } from '#lib/errors.ts';
import {
  type GmailServerOptions,
  gmailMessage,
  MICROSOFT_CAPABILITIES,
  type ScriptedCommand,
  startGmailServer,
} from '../helpers/gmail-imap-server.ts';
import { scriptedRuntime } from '../helpers/scripted-runtime.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function exchange(commands: GmailServerOptions['commands'], account: Record<string, unknown> = {}) {
  const server = await startGmailServer({ capabilities: MICROSOFT_CAPABILITIES, commands });
  cleanup.push(() => server.close());
  server.add(gmailMessage(1), ['\\Inbox']);
  const postroom = await scriptedRuntime({
    port: server.port,
    account: { provider: 'microsoft', ...account },
  });
  cleanup.push(() => postroom.close());
  return { server, postroom, logins: () => server.commands.filter((c) => c.startsWith('LOGIN')).length };
}

/** Exchange's answer when the login was accepted but the mailbox not connected, then its BYE. */
const notConnected = (c: ScriptedCommand) => {
  c.write(`${c.tag} BAD User is authenticated but not connected.\r\n* BYE Connection closed. 14\r\n`);
  c.end();
};

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the poll to fail');
}

describe('Microsoft 365 transient answers', () => {
  it('retries "User is authenticated but not connected" after LOGIN until the mailbox connects', async () => {
    // Prepare
    const { postroom, logins, server } = await exchange({
      NAMESPACE: (c) => (c.count <= 2 ? notConnected(c) : c.answer()),
    });

    // Act
    const result = await postroom.poll();

    // Assert
    expect(result.fetched).toBe(1);
    expect(logins()).toBe(3);
    expect(postroom.logs.filter((l) => /trying again in \d+ ms/.test(l.message))).toHaveLength(2);
    // Exchange has no CONDSTORE/QRESYNC and none is asked for.
    expect(server.commands.some((c) => /ENABLE|CONDSTORE|QRESYNC|CHANGEDSINCE/.test(c))).toBe(false);
  });

  it('waits the backoff a throttled LOGIN suggests, then logs in', async () => {
    // Prepare
    const { postroom, logins } = await exchange({
      LOGIN: (c) =>
        c.count === 1
          ? c.write(`${c.tag} NO Request is throttled. Suggested Backoff Time: 300 milliseconds\r\n`)
          : c.answer(),
    });

    // Act
    const result = await postroom.poll();

    // Assert
    expect(result.fetched).toBe(1);
    expect(logins()).toBe(2);
  });

  it('reports a mailbox that never connects as SERVER_BUSY within the session time, not as an authentication failure', async () => {
    // Prepare
    const { postroom, logins } = await exchange(
      { NAMESPACE: notConnected },
      { limits: { sessionSeconds: 4 } },
    );

    // Act
    const error = await failure(postroom.poll());

    // Assert
    expect(isPostroomError(error) && error.code).toBe('SERVER_BUSY');
    expect(isPostroomError(error) && error.retryable).toBe(true);
    expect((error as Error).message).toMatch(
      /^account scripted: .*not connected: transient, or these credentials reach no mailbox.*User is authenticated but not connected/,
    );
    expect((error as Error).message).not.toMatch(/scripted-pass/);
    expect(logins()).toBeGreaterThan(1);
  });

  it('still reports a refused login as AUTH_FAILED, at once', async () => {
    // Prepare
    const { postroom, logins } = await exchange({
      LOGIN: (c) => c.write(`${c.tag} NO LOGIN failed.\r\n`),
    });

    // Act
    const error = await failure(postroom.poll());

    // Assert
    expect(isPostroomError(error) && error.code).toBe('AUTH_FAILED');
    expect((error as Error).message).toMatch(/^account scripted: authentication failed: .*LOGIN failed/);
    expect(logins()).toBe(1);
  });
});
