/**
 * Events, once. Locally an event and the record of the action that emits it
 * commit together (an outbox in the same SQLite transaction), so no crash
 * doubles or drops a line of `events.jsonl`: shown by a flush cut short by
 * hand, and by SIGKILLing the real `postroom process` at random moments. In
 * AWS an event may repeat after a crash, but every event carries the same
 * stable `id` in its detail on every redelivery, and its record is written as
 * soon as PutEvents accepted it (the DynamoDB emulator; EventBridge mocked,
 * for there is no emulator of it).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { DynamoIdempotencyStore } from '#lib/adapters/aws/dynamodb-idempotency-store.ts';
import { EventBridgeEventSink } from '#lib/adapters/aws/eventbridge-event-sink.ts';
import { JsonlEventSink } from '#lib/adapters/local/jsonl-event-sink.ts';
import { closeAllDatabases, openDatabase } from '#lib/adapters/local/sqlite.ts';
import { SqliteIdempotencyStore } from '#lib/adapters/local/sqlite-idempotency-store.ts';
import { configSchema } from '#lib/config/schema.ts';
import { type BatchItem, type ProcessDependencies, processBatch } from '#lib/core/process.ts';
import type { IdempotencyStore, PostroomEvent } from '#lib/ports.ts';
import { textMessage } from '../fixtures/messages.ts';
import * as postroom from '../helpers/cli.ts';
import { appendMessages, dovecotInfo, freshUser, testAccount, withSetupClient } from '../helpers/dovecot.ts';
import { createStateTable, dynamoClientConfig } from '../helpers/dynamo-emulator.ts';
import { queueMessage } from '../helpers/factories.ts';

afterEach(async () => {
  await postroom.killAllPostroom();
});
afterAll(() => closeAllDatabases());

function event(i: number): PostroomEvent {
  return { source: 'postroom', 'detail-type': 'test.event', detail: { id: `event-${i}`, n: i } };
}

/** The lines of a file as parsed JSON; throws on a line that is not JSON (a half-written one). */
function jsonLines(file: string): { detail: { id: string } }[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { detail: { id: string } });
}

describe('local events: an outbox commits with the records', () => {
  it('writes each committed event once after a flush that wrote lines but crashed before it committed', async () => {
    // Prepare: the file cannot be written (a directory stands in its place), so the events stay in the outbox.
    const dir = mkdtempSync(join(tmpdir(), 'postroom-outbox-'));
    const file = join(dir, 'events.jsonl');
    const db = openDatabase(join(dir, 'postroom.db'));
    const idempotency = new SqliteIdempotencyStore({ db });
    mkdirSync(file);
    const sink = new JsonlEventSink({ file, db, idempotency });
    const entries = [1, 2, 3, 4].map((i) => ({ key: `key-${i}`, event: event(i) }));
    await expect(sink.emitRecorded(entries, 60)).rejects.toThrow();
    for (const { key } of entries) expect(await idempotency.isDone(key)).toBe(true);
    // Opening the store again (any command does) is not stopped by the file it cannot write yet.
    expect(() => new JsonlEventSink({ file, db, idempotency })).not.toThrow();
    // A flush that appended two lines and half of a third, then died before its commit.
    rmdirSync(file);
    const outbox = db.prepare('SELECT line FROM event_outbox ORDER BY seq').pluck().all() as string[];
    expect(outbox).toHaveLength(4);
    writeFileSync(file, `${outbox[0]}\n${outbox[1]}\n${outbox[2]!.slice(0, 30)}`);

    // Act: the next start flushes the outbox.
    new JsonlEventSink({ file, db, idempotency });
    await sink.emitRecorded([{ key: 'key-5', event: event(5) }], 60);

    // Assess
    expect(jsonLines(file).map((l) => l.detail.id)).toEqual([
      'event-1',
      'event-2',
      'event-3',
      'event-4',
      'event-5',
    ]);
    expect(db.prepare('SELECT count(*) FROM event_outbox').pluck().get()).toBe(0);
  });

  it('writes nothing and records nothing when the commit fails', async () => {
    // Prepare: a record the store refuses (a TTL that is not positive) fails the whole transaction.
    const dir = mkdtempSync(join(tmpdir(), 'postroom-outbox-'));
    const file = join(dir, 'events.jsonl');
    const db = openDatabase(join(dir, 'postroom.db'));
    const idempotency = new SqliteIdempotencyStore({ db });
    const sink = new JsonlEventSink({ file, db, idempotency });

    // Act
    const emitted = sink.emitRecorded([{ key: 'key-1', event: event(1) }], -1);

    // Assess
    await expect(emitted).rejects.toThrow(RangeError);
    expect(await idempotency.isDone('key-1')).toBe(false);
    expect(db.prepare('SELECT count(*) FROM event_outbox').pluck().get()).toBe(0);
    expect(postroom.readEventsFile(file)).toEqual([]);
  });

  it('SIGKILL of postroom process at random moments neither doubles nor drops a line of events.jsonl', async () => {
    // Prepare: 300 messages, two events for some; batches of 5 give many commit points.
    const info = dovecotInfo();
    const user = freshUser(info, 'k');
    const account = testAccount(info, user, { tls: false, id: 'support' });
    const config = postroom.writeConfigFile(
      {
        accounts: [account],
        rules: [
          { name: 'all', then: [{ emit: 'mail.received' }] },
          { name: 'thirds', when: { subject: { regex: '[036]$' } }, then: [{ emit: 'mail.third' }] },
        ],
        // Killed runs count receives too: never dead-letter here.
        aws: { processor: { maxReceives: 1000 } },
      },
      'postroom-kill-',
    );
    const env = { POSTROOM_TEST_PASSWORD: user.password };
    const count = 300;
    await withSetupClient(info, user, (client) =>
      appendMessages(
        client,
        'INBOX',
        Array.from({ length: count }, (_, i) => textMessage(i + 1, { namespace: user.user })),
      ),
    );
    const poll = await postroom.runPostroom(['poll', '--config', config.file], { env });
    expect(poll.code, poll.stderr).toBe(0);
    const expected =
      count + Array.from({ length: count }, (_, i) => i + 1).filter((i) => /[036]$/.test(String(i))).length;
    let seed = 12;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };

    // Act: kill runs at random moments; after each, the killed run's messages are made visible
    // again at once (as its visibility timeout running out would).
    let kills = 0;
    for (let trial = 0; trial < 12; trial++) {
      const cli = postroom.spawnPostroom(['process', '--config', config.file, '--batch-size', '5'], { env });
      // Kill while events are being written: once the file grew, after up to 300 ms more.
      const before = postroom.readEventsFile(config.eventsFile).length;
      const until = Date.now() + 10_000;
      while (
        !cli.hasExited() &&
        Date.now() < until &&
        postroom.readEventsFile(config.eventsFile).length === before
      )
        await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, random() * 300));
      if (cli.hasExited()) break;
      cli.signal('SIGKILL');
      kills += 1;
      await cli.exited;
      const db = new Database(join(config.storeDir, 'postroom.db'));
      db.prepare('UPDATE queue_messages SET visible_at = 0, receipt = NULL').run();
      db.close();
    }
    const last = await postroom.runPostroom(['process', '--config', config.file, '--json'], { env });

    // Assess
    expect(last.code, last.stderr).toBe(0);
    expect(kills).toBeGreaterThan(0);
    const ids = postroom.readEventsFile(config.eventsFile).map((e) => e.detail.id as unknown as string);
    expect(ids.length - new Set(ids).size, 'duplicate lines').toBe(0);
    expect(ids).toHaveLength(expected);
    expect(jsonLines(config.eventsFile)).toHaveLength(expected);
  }, 120_000);
});

describe('AWS events: at least once, with a stable id', () => {
  const clients: DynamoDBClient[] = [];
  afterAll(() => {
    for (const c of clients) c.destroy();
  });

  async function awsDependencies(idempotency?: (real: IdempotencyStore) => IdempotencyStore) {
    const endpoint = inject('servers').emulators.dynamodb;
    const tableName = await createStateTable(endpoint, `postroom-events-${randomUUID()}`);
    const client = new DynamoDBClient(dynamoClientConfig(endpoint));
    clients.push(client);
    const real = new DynamoIdempotencyStore({ client, tableName });
    const eventBridge = mockClient(EventBridgeClient);
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const { rules } = configSchema.parse({
      accounts: [],
      store: { kind: 'local', dir: tmpdir() },
      rules: [{ name: 'invoices', when: { subject: 'Invoice' }, then: [{ emit: 'invoice.received' }] }],
    });
    const deps: ProcessDependencies = {
      rules,
      accounts: [],
      blobs: undefined as never,
      idempotency: idempotency ? idempotency(real) : real,
      events: new EventBridgeEventSink({
        eventBusName: 'bus',
        client: new EventBridgeClient({ region: 'eu-west-1' }),
      }),
      openSession: () => Promise.reject(new Error('no IMAP action in this test')),
      resolveSecret: () => Promise.reject(new Error('no secret in this test')),
      sendWebhook: () => Promise.reject(new Error('no webhook in this test')),
    };
    const sent = () =>
      eventBridge
        .commandCalls(PutEventsCommand)
        .flatMap((call) => call.args[0].input.Entries ?? [])
        .map((entry) => JSON.parse(entry.Detail!) as { id: string; uid: number });
    return { deps, sent, restore: () => eventBridge.restore() };
  }

  const batch = (receiveCount: number): BatchItem[] =>
    [1, 2, 3].map((uid) => ({ id: `sqs-${uid}`, message: queueMessage(uid), receiveCount }));

  it('sends the same id again after a crash before the record, and nothing once recorded', async () => {
    // Prepare: the record of message 2's event fails once (the crash after PutEvents).
    let crashes = 0;
    const { deps, sent, restore } = await awsDependencies((real) => ({
      isDone: (key) => real.isDone(key),
      markDone: async (key, ttl) => {
        if (key.includes('/2.eml#') && crashes++ === 0) throw new Error('simulated crash after PutEvents');
        await real.markDone(key, ttl);
      },
    }));
    try {
      // Act
      const first = await processBatch(deps, batch(1));
      const afterFirst = sent();
      const second = await processBatch(deps, batch(2));
      const afterSecond = sent();
      const third = await processBatch(deps, batch(3));

      // Assess
      expect(first.items.map((i) => i.status)).toEqual(['done', 'failed', 'done']);
      expect(first.items[1]!.actions[0]!.note).toContain('emitted, but not recorded');
      expect(afterFirst.map((d) => d.uid)).toEqual([1, 2, 3]);
      expect(new Set(afterFirst.map((d) => d.id)).size).toBe(3);
      expect(second.failed).toBe(0);
      // Only the unrecorded event is sent again, with the id it had.
      expect(afterSecond.slice(3)).toEqual([afterFirst[1]]);
      expect(third.items.flatMap((i) => i.actions.map((a) => a.status))).toEqual(
        Array(3).fill('already-done'),
      );
      expect(sent()).toHaveLength(4);
    } finally {
      restore();
    }
  });

  it('names each event as the webhook delivery id names a delivery: by (message, rule, action)', async () => {
    // Prepare
    const { deps, sent, restore } = await awsDependencies();
    try {
      // Act
      await processBatch(deps, batch(1));

      // Assess
      expect(sent().map((d) => d.id)).toEqual(
        [1, 2, 3].map((uid) =>
          expect.stringMatching(new RegExp(`^raw/acme/INBOX/1700000000/${uid}\\.eml#.+#emit$`)),
        ),
      );
    } finally {
      restore();
    }
  });
});
