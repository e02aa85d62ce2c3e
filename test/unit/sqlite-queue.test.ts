/**
 * The local queue's consumer side, which only the local driver uses (in AWS,
 * Lambda's SQS event source does this): visibility timeouts, receive counts,
 * dead letters and receipts. A real SQLite file, a clock moved by hand.
 * The send side shared with SQS is in test/integration/queue.contract.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { thisHost } from '#lib/adapters/local/process-holder.ts';
import { openDatabase, type SqliteDatabase } from '#lib/adapters/local/sqlite.ts';
import { SqliteQueue, StaleReceiptError } from '#lib/adapters/local/sqlite-queue.ts';
import { queueMessage } from '../helpers/factories.ts';
import { deadProcess, killLiving, livingProcess } from '../helpers/processes.ts';

const message = queueMessage;

let directory: string;
let db: SqliteDatabase;
let now: number;
const clock = () => now;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'postroom-queue-'));
  db = openDatabase(join(directory, 'postroom.db'));
  now = Date.UTC(2026, 0, 31, 10, 0, 0);
});

afterEach(async () => {
  await killLiving();
  db.close();
  await rm(directory, { recursive: true, force: true });
});

describe('SqliteQueue', () => {
  it('hides a received message until its visibility timeout ends, then delivers it again', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1)]);

    // Act
    const first = await queue.receive(10, 60_000);
    const whileHidden = await queue.receive(10, 60_000);
    now += 60_000;
    const afterTimeout = await queue.receive(10, 60_000);

    // Assess
    expect(first.map((m) => m.body.uid)).toEqual([1]);
    expect(whileHidden).toEqual([]);
    expect(afterTimeout.map((m) => m.body.uid)).toEqual([1]);
    expect(afterTimeout[0]!.receipt).not.toBe(first[0]!.receipt);
  });

  it('counts every receive of a message', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock, maxReceives: 10 });
    await queue.sendBatch([message(1)]);

    // Act
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [received] = await queue.receive(1, 1_000);
      counts.push(received!.receiveCount);
      await queue.release(received!.receipt, 'try again');
    }

    // Assess
    expect(counts).toEqual([1, 2, 3]);
  });

  it('receives the oldest messages first, at most max of them', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1), message(2), message(3)]);

    // Act
    const received = await queue.receive(2);

    // Assess
    expect(received.map((m) => m.body.uid)).toEqual([1, 2]);
    expect(queue.stats()).toEqual({ queued: 1, inFlight: 2, deadLetter: 0 });
  });

  it('removes an acked message for good', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1)]);
    const [received] = await queue.receive(1, 1_000);

    // Act
    await queue.ack(received!.receipt);
    now += 10_000;

    // Assess
    expect(await queue.receive(10)).toEqual([]);
    expect(queue.stats()).toEqual({ queued: 0, inFlight: 0, deadLetter: 0 });
  });

  it('acks a batch in one go, deleting every message its receipts hold and refusing the stale one', async () => {
    // Prepare: message 1's first receipt went stale (its visibility ran out and it was received again).
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1), message(2), message(3)]);
    const first = await queue.receive(3, 1_000);
    now += 1_000;
    const again = await queue.receive(1, 60_000);

    // Act
    const acking = queue.ackAll(first.map((m) => m.receipt));

    // Assess
    await expect(acking).rejects.toBeInstanceOf(StaleReceiptError);
    expect(again.map((m) => m.body.uid)).toEqual([1]);
    expect(queue.stats()).toEqual({ queued: 0, inFlight: 1, deadLetter: 0 });
    await queue.ack(again[0]!.receipt);
    expect(queue.stats()).toEqual({ queued: 0, inFlight: 0, deadLetter: 0 });
  });

  it('makes a released message visible again at once', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1)]);
    const [received] = await queue.receive(1, 60_000);

    // Act
    await queue.release(received!.receipt, 'IMAP server unavailable');
    const again = await queue.receive(1, 60_000);

    // Assess
    expect(again.map((m) => [m.body.uid, m.receiveCount])).toEqual([[1, 2]]);
  });

  it('moves a message to the dead letters with the reason once it was received maxReceives times', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock, maxReceives: 3 });
    await queue.sendBatch([message(7)]);

    // Act
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [received] = await queue.receive(1, 1_000);
      await queue.release(received!.receipt, `rule "invoices" failed: attempt ${attempt}`);
    }

    // Assess
    expect(await queue.receive(10)).toEqual([]);
    expect(queue.stats()).toEqual({ queued: 0, inFlight: 0, deadLetter: 1 });
    const [dead] = queue.deadLetters();
    expect(dead).toMatchObject({
      account: 'acme',
      mailbox: 'INBOX',
      uidValidity: 1700000000,
      uid: 7,
      reason: 'rule "invoices" failed: attempt 3',
      receiveCount: 3,
      failedAt: new Date(now).toISOString(),
    });
    expect(dead!.body).toEqual(message(7));
  });

  it('dead-letters a message whose consumer kept timing out without releasing it', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock, maxReceives: 2 });
    await queue.sendBatch([message(1)]);
    await queue.receive(1, 1_000);
    now += 1_000;
    await queue.receive(1, 1_000);
    now += 1_000;

    // Act
    const received = await queue.receive(1, 1_000);

    // Assess
    expect(received).toEqual([]);
    expect(queue.deadLetters().map((d) => [d.uid, d.receiveCount, d.reason])).toEqual([
      [1, 2, 'visibility timeout expired after 2 receives'],
    ]);
  });

  it('refuses an ack with the receipt of an earlier receive', async () => {
    // Prepare: the first consumer's visibility runs out and a second consumer receives the message.
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1)]);
    const [stale] = await queue.receive(1, 1_000);
    now += 1_000;
    const [current] = await queue.receive(1, 60_000);

    // Act
    const staleAck = queue.ack(stale!.receipt);

    // Assess: the second consumer still holds the message and can finish it.
    await expect(staleAck).rejects.toBeInstanceOf(StaleReceiptError);
    await expect(staleAck).rejects.toMatchObject({ code: 'QUEUE_RECEIPT_STALE' });
    expect(queue.stats()).toEqual({ queued: 0, inFlight: 1, deadLetter: 0 });
    await queue.ack(current!.receipt);
    expect(queue.stats()).toEqual({ queued: 0, inFlight: 0, deadLetter: 0 });
  });

  it('refuses a release with a receipt that was already acked', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1)]);
    const [received] = await queue.receive(1);
    await queue.ack(received!.receipt);

    // Act
    const release = queue.release(received!.receipt, 'late failure');

    // Assess
    await expect(release).rejects.toBeInstanceOf(StaleReceiptError);
    expect(queue.deadLetters()).toEqual([]);
  });

  it('ignores a re-send of a message that was already processed and acked', async () => {
    // Prepare: a poller crashed after queueing but before moving its checkpoint.
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1), message(2)]);
    for (const m of await queue.receive(10)) await queue.ack(m.receipt);

    // Act
    await queue.sendBatch([message(1), message(2), message(3)]);

    // Assess
    expect((await queue.receive(10)).map((m) => m.body.uid)).toEqual([3]);
  });

  it('ignores a re-send of a dead-lettered message', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock, maxReceives: 1 });
    await queue.sendBatch([message(1)]);
    const [received] = await queue.receive(1);
    await queue.release(received!.receipt, 'broken');

    // Act
    await queue.sendBatch([message(1)]);

    // Assess
    expect(await queue.receive(10)).toEqual([]);
    expect(queue.stats().deadLetter).toBe(1);
  });

  it('treats the same UID under a new UIDVALIDITY as a new message', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock });
    await queue.sendBatch([message(1)]);

    // Act
    await queue.sendBatch([message(1, { uidValidity: 1800000000 })]);

    // Assess
    expect((await queue.receive(10)).map((m) => m.body.uidValidity)).toEqual([1700000000, 1800000000]);
  });

  it('puts redriven dead letters back on the queue with a fresh receive count', async () => {
    // Prepare
    const queue = new SqliteQueue(db, { clock, maxReceives: 1 });
    await queue.sendBatch([message(1), message(2)]);
    for (const m of await queue.receive(10)) await queue.release(m.receipt, 'webhook down');
    const [first] = queue.deadLetters();

    // Act
    const moved = queue.redrive([first!.id]);

    // Assess
    expect(moved).toBe(1);
    const received = await queue.receive(10);
    expect(received.map((m) => [m.body.uid, m.receiveCount])).toEqual([[1, 1]]);
    expect(queue.deadLetters().map((d) => d.uid)).toEqual([2]);
  });

  it('keeps queued messages across reopening the database', async () => {
    // Prepare
    const file = join(directory, 'postroom.db');
    await new SqliteQueue(db, { clock }).sendBatch([message(1)]);
    db.close();

    // Act
    db = openDatabase(file);
    const received = await new SqliteQueue(db, { clock }).receive(10);

    // Assess
    expect(received.map((m) => m.body)).toEqual([message(1)]);
  });

  it('lets two queue instances on one database never receive the same message twice', async () => {
    // Prepare: the poller and a CLI call may each open the queue.
    const a = new SqliteQueue(db, { clock });
    const b = new SqliteQueue(db, { clock });
    await a.sendBatch(Array.from({ length: 6 }, (_, i) => message(i + 1)));

    // Act
    const fromA = await a.receive(4, 60_000);
    const fromB = await b.receive(4, 60_000);

    // Assess
    expect(fromA.map((m) => m.body.uid)).toEqual([1, 2, 3, 4]);
    expect(fromB.map((m) => m.body.uid)).toEqual([5, 6]);
  });
});

describe('SqliteQueue: messages of a consumer that is gone', () => {
  it('are received again at once when their consumer was killed on this host', async () => {
    // Prepare
    const crashed = new SqliteQueue(db, { clock, process: { pid: await deadProcess(), host: thisHost() } });
    await crashed.sendBatch([message(1), message(2), message(3)]);
    const held = await crashed.receive(2, 300_000);
    const next = new SqliteQueue(db, { clock });

    // Act
    const received = await next.receive(10, 60_000);

    // Assess
    expect(held.map((m) => m.body.uid)).toEqual([1, 2]);
    expect(received.map((m) => [m.body.uid, m.receiveCount])).toEqual([
      [1, 2],
      [2, 2],
      [3, 1],
    ]);
    await expect(crashed.ack(held[0]!.receipt)).rejects.toBeInstanceOf(StaleReceiptError);
  });

  it('stay hidden while their consumer lives, or when it ran on another host', async () => {
    // Prepare
    const living = new SqliteQueue(db, { clock, process: { pid: await livingProcess(), host: thisHost() } });
    const remote = new SqliteQueue(db, {
      clock,
      process: { pid: await deadProcess(), host: 'another-host' },
    });
    await living.sendBatch([message(1), message(2)]);
    await living.receive(1, 300_000);
    await remote.receive(1, 300_000);
    const next = new SqliteQueue(db, { clock });

    // Act
    const received = await next.receive(10, 60_000);

    // Assess
    expect(received).toEqual([]);
    expect(next.stats()).toMatchObject({ queued: 0, inFlight: 2 });
  });

  it('are dead-lettered, saying so, when the consumer died on their last receive', async () => {
    // Prepare
    const pid = await deadProcess();
    const crashed = new SqliteQueue(db, { clock, maxReceives: 1, process: { pid, host: thisHost() } });
    await crashed.sendBatch([message(1)]);
    await crashed.receive(1, 300_000);
    const next = new SqliteQueue(db, { clock, maxReceives: 1 });

    // Act
    const received = await next.receive(10, 60_000);

    // Assess
    expect(received).toEqual([]);
    expect(next.deadLetters().map((d) => d.reason)).toEqual([
      `its consumer (pid ${pid}) died after 1 receives`,
    ]);
  });
});
