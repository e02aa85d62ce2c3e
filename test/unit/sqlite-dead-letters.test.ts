/**
 * The local queue's dead letters as `postroom dead-letters` and `postroom
 * status` use them (`SqliteDeadLetterStore`): release says when it
 * dead-letters, ids that are not there are reported missing, a retried
 * message is received again with a fresh count, and depth counts per mailbox.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '#lib/adapters/local/sqlite.ts';
import { SqliteDeadLetterStore } from '#lib/adapters/local/sqlite-dead-letters.ts';
import { SqliteQueue } from '#lib/adapters/local/sqlite-queue.ts';
import { queueMessage } from '../helpers/factories.ts';

let directory: string;
let db: SqliteDatabase;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'postroom-dead-'));
  db = openDatabase(join(directory, 'postroom.db'));
});

afterEach(async () => {
  db.close();
  await rm(directory, { recursive: true, force: true });
});

/** Sends the messages and fails each one `maxReceives` (2) times; returns the release outcomes. */
async function deadLetter(queue: SqliteQueue, uids: number[]): Promise<string[]> {
  await queue.sendBatch(uids.map((uid) => queueMessage(uid)));
  const outcomes: string[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    for (const received of await queue.receive(10, 60_000))
      outcomes.push((await queue.release(received.receipt, `attempt ${attempt} failed`)) ?? 'none');
  }
  return outcomes;
}

describe('SqliteDeadLetterStore', () => {
  it('release says released, then dead-lettered on the last try, with the reason kept', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { maxReceives: 2 });
    const store = new SqliteDeadLetterStore(queue);

    // Act
    const outcomes = await deadLetter(queue, [1]);
    const [dead] = await store.list(10);

    // Assess
    expect(outcomes).toEqual(['released', 'dead-lettered']);
    expect(dead).toMatchObject({ receiveCount: 2, reason: 'attempt 1 failed', body: { uid: 1 } });
    expect(await store.get(dead!.id)).toEqual(dead);
    expect(await store.get('nope')).toBeUndefined();
  });

  it('retries some or all, drops others, and reports ids that are not there', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { maxReceives: 2 });
    const store = new SqliteDeadLetterStore(queue);
    await deadLetter(queue, [1, 2, 3]);
    const [a, b, c] = (await store.list(10)).map((d) => d.id);

    // Act
    const retried = await store.retry([a!, 'x', '999']);
    const dropped = await store.drop([b!, b!.concat('0')]);
    const rest = await store.retry();
    const received = await queue.receive(10, 60_000);

    // Assess
    expect(retried).toEqual({ done: [a], missing: ['x', '999'] });
    expect(dropped).toEqual({ done: [b], missing: [`${b}0`] });
    expect(rest).toEqual({ done: [c], missing: [] });
    expect(received.map((r) => [r.body.uid, r.receiveCount])).toEqual([
      [1, 1],
      [3, 1],
    ]);
    expect(await store.list(10)).toEqual([]);
  });

  it('counts queued, in flight and dead letters per mailbox', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { maxReceives: 1 });
    const store = new SqliteDeadLetterStore(queue);
    await queue.sendBatch([queueMessage(1), queueMessage(2), queueMessage(3, { mailbox: 'Sales' })]);
    const [first] = await queue.receive(1, 60_000);
    await queue.release(first!.receipt, 'broken');
    await queue.receive(1, 60_000);

    // Act
    const depth = await store.depth();

    // Assess
    expect(depth).toMatchObject({ queued: 1, inFlight: 1, deadLetters: 1 });
    expect(Object.fromEntries(depth.byMailbox!)).toEqual({
      'acme\0INBOX': { queued: 0, inFlight: 1, deadLetters: 1 },
      'acme\0Sales': { queued: 1, inFlight: 0, deadLetters: 0 },
    });
  });
});
