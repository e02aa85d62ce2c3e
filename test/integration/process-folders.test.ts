/**
 * Folders are resolved once per IMAP session: one LIST, and no CREATE for a
 * folder the LIST showed (a batch used to CREATE every target it copied or
 * moved to, existing or not).
 */
import { describe, expect, it } from 'vitest';
import { textMessage } from '../fixtures/messages.ts';
import { trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

describe('folder targets', () => {
  it('lists once per session and creates only the folder that is missing', async () => {
    // Prepare: Archive exists, Bulk does not; two batches of three.
    const harness = await harnessWith({
      proxy: true,
      rules: [
        { name: 'archive', when: { subject: 'Message' }, then: [{ copy: 'Archive' }] },
        { name: 'bulk', when: { subject: 'Message' }, then: [{ move: 'Bulk' }] },
      ],
    });
    await harness.withClient((client) => client.mailboxCreate('Archive'));
    await harness.append(
      Array.from({ length: 6 }, (_, i) => textMessage(i, { namespace: harness.user.user, bytes: 512 })),
    );
    await harness.poll();
    harness.proxy!.reset();

    // Act
    const results = await harness.drain(3);

    // Assess
    expect(results.map((r) => r.actions)).toEqual([
      { copy: 3, move: 3 },
      { copy: 3, move: 3 },
    ]);
    const sent = harness.proxy!.commands();
    // The poll's pooled session (no LOGIN since the reset) or a fresh one serves both batches: one LIST.
    expect(sent.filter((c) => c === 'LOGIN' || c === 'AUTHENTICATE').length).toBeLessThanOrEqual(1);
    expect(sent.filter((c) => c === 'LIST')).toHaveLength(1);
    expect(sent.filter((c) => c === 'CREATE')).toHaveLength(1);
    expect((await harness.uids('Archive')).length).toBe(6);
    expect((await harness.uids('Bulk')).length).toBe(6);
    expect(await harness.uids()).toEqual([]);
  });
});
