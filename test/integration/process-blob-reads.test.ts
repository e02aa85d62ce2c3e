/**
 * Blobs are read only as far as the rules need: nothing for envelope rules,
 * the header block for header rules, the whole message for body rules.
 */
import { describe, expect, it } from 'vitest';
import type { BlobStore } from '#lib/ports.ts';
import { textMessage } from '../fixtures/messages.ts';
import { type ProcessHarness, trackedHarnesses } from '../helpers/process-harness.ts';

const harnessWith = trackedHarnesses();

/** The harness's blob store, counting whole reads and the bytes head reads return. */
function countingBlobs(harness: ProcessHarness) {
  const real = harness.runtime.stores.blobs;
  const counts = { gets: 0, heads: 0, headBytes: 0 };
  const blobs: BlobStore = {
    put: (key, body, options) => real.put(key, body, options),
    exists: (key) => real.exists(key),
    get: async (key) => {
      counts.gets += 1;
      return real.get(key);
    },
    getHead: async (key, maxBytes) => {
      const head = await real.getHead!(key, maxBytes);
      counts.heads += 1;
      counts.headBytes += head.length;
      return head;
    },
  };
  return { blobs, counts };
}

async function threeLargeMessages(harness: ProcessHarness) {
  const campaign = (i: number) => (i === 1 ? ['X-Campaign: spring', 'List-Id: <news.example.test>'] : []);
  await harness.append(
    [0, 1, 2].map((i) =>
      textMessage(i, { namespace: harness.user.user, bytes: 200 * 1024, headers: campaign(i) }),
    ),
  );
  await harness.poll();
  return (await harness.receive()).items;
}

describe('blob reads', () => {
  it('reads only the header block for header rules', async () => {
    // Prepare
    const harness = await harnessWith({
      rules: [
        {
          name: 'campaign',
          when: { header: { name: 'X-Campaign', is: 'spring' } },
          then: [{ flag: ['$Spring'] }],
        },
        { name: 'lists', when: { list: true }, then: [{ flag: ['$List'] }] },
      ],
    });
    const items = await threeLargeMessages(harness);
    const { blobs, counts } = countingBlobs(harness);

    // Act
    const result = await harness.process(items, { blobs });

    // Assess
    expect(result.items.map((i) => i.matched)).toEqual([[], ['campaign', 'lists'], []]);
    expect(result.items.flatMap((i) => i.warnings)).toEqual([]);
    expect(counts.gets).toBe(0);
    expect(counts.heads).toBe(3);
    expect(counts.headBytes).toBeLessThan(3 * 1024);
  });

  it('reads whole messages for body rules, and nothing for envelope rules', async () => {
    // Prepare
    const body = await harnessWith({
      rules: [{ name: 'words', when: { body: 'zzz-not-there' }, then: [{ flag: ['$Words'] }] }],
    });
    const envelope = await harnessWith({
      rules: [{ name: 'big', when: { size: { over: '100 KB' } }, then: [{ flag: ['$Big'] }] }],
    });
    const bodyItems = await threeLargeMessages(body);
    const envelopeItems = await threeLargeMessages(envelope);
    const forBody = countingBlobs(body);
    const forEnvelope = countingBlobs(envelope);

    // Act
    await body.process(bodyItems, { blobs: forBody.blobs });
    const sized = await envelope.process(envelopeItems, { blobs: forEnvelope.blobs });

    // Assess
    expect(forBody.counts).toEqual({ gets: 3, heads: 0, headBytes: 0 });
    expect(forEnvelope.counts).toEqual({ gets: 0, heads: 0, headBytes: 0 });
    expect(sized.actions).toEqual({ flag: 3 });
  });
});
