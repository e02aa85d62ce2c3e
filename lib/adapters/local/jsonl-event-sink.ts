/**
 * The local stand-in for EventBridge: one JSON object per line in
 * `<store dir>/events.jsonl` (`time`, `source`, `detail-type`, `detail`),
 * appended and fsynced, so `tail -f` shows events as rules fire.
 *
 * Exactly once: an event first becomes a row of the `event_outbox` table, in
 * the same SQLite transaction as the idempotency records of the actions that
 * emit it; the outbox is then written to the file. The transaction that writes
 * the file also deletes the rows and stores how far the file was written, so
 * a crash between the two leaves lines past that mark that are still in the
 * outbox: the next flush finds them there and does not write them again, and
 * cuts off a line a crash left half-written.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { EventSink, PostroomEvent, RecordedEvent } from '../../ports.ts';
import type { SqliteDatabase } from './sqlite.ts';
import type { SqliteIdempotencyStore } from './sqlite-idempotency-store.ts';

export interface JsonlEventSinkOptions {
  /** `<store dir>/events.jsonl` */
  file: string;
  /** The database holding the outbox, and the idempotency records it commits with. */
  db: SqliteDatabase;
  /** The records `emitRecorded` writes; they must live in `db`. */
  idempotency: SqliteIdempotencyStore;
  /** @default Date.now */
  clock?: () => number;
}

interface OutboxRow {
  seq: number;
  line: string;
}

export class JsonlEventSink implements EventSink {
  readonly file: string;
  readonly #clock: () => number;
  readonly #commit: (entries: { key?: string; event: PostroomEvent }[], ttlSeconds?: number) => void;
  readonly #flush: () => number;

  constructor(options: JsonlEventSinkOptions) {
    const { db, idempotency } = options;
    this.file = options.file;
    this.#clock = options.clock ?? Date.now;
    db.exec(`CREATE TABLE IF NOT EXISTS event_outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      line TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS event_outbox_file (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      written_bytes INTEGER NOT NULL
    )`);
    const insert = db.prepare<[string]>('INSERT INTO event_outbox (line) VALUES (?)');
    const pending = db.prepare<[], OutboxRow>('SELECT seq, line FROM event_outbox ORDER BY seq');
    const remove = db.prepare<[number]>('DELETE FROM event_outbox WHERE seq <= ?');
    const mark = db.prepare<[], number>('SELECT written_bytes FROM event_outbox_file WHERE id = 1').pluck();
    const setMark = db.prepare<[number]>(
      `INSERT INTO event_outbox_file (id, written_bytes) VALUES (1, ?)
       ON CONFLICT (id) DO UPDATE SET written_bytes = excluded.written_bytes`,
    );
    this.#commit = db.transaction((entries, ttlSeconds) => {
      const time = new Date(this.#clock()).toISOString();
      for (const { key, event } of entries) {
        insert.run(JSON.stringify({ time, ...event }));
        if (key !== undefined) idempotency.markDoneSync(key, ttlSeconds);
      }
    });
    // IMMEDIATE: two processes on one store (`run` and a CLI call) never write the file at once.
    const flush = db.transaction(() => {
      const rows = pending.all();
      if (rows.length === 0) return 0;
      const written = appendOnce(this.file, rows, mark.get() ?? 0);
      remove.run(rows.at(-1)!.seq);
      setMark.run(written.bytes);
      return written.lines;
    });
    this.#flush = () => flush.immediate();
    // A crash after a commit leaves rows in the outbox: they are written on the next start.
    // Not fatal here (every command opens the stores): the next emit retries and reports it.
    try {
      this.#flush();
    } catch {}
  }

  async emit(events: PostroomEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.#commit(events.map((event) => ({ event })));
    this.#flush();
  }

  async emitRecorded(events: RecordedEvent[], ttlSeconds?: number): Promise<void> {
    if (events.length === 0) return;
    this.#commit(events, ttlSeconds);
    this.#flush();
  }

  /** Writes what the outbox holds to the file; returns how many lines were appended. */
  flush(): number {
    return this.#flush();
  }
}

/**
 * Appends the rows' lines that the file does not already hold past `mark`
 * (the length of the file when the outbox was last emptied), fsyncs, and
 * returns the file's new length.
 */
function appendOnce(file: string, rows: OutboxRow[], mark: number): { bytes: number; lines: number } {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a+');
  try {
    const size = fstatSync(fd).size;
    // A file shorter than the mark was rotated or truncated by its user: nothing of it is ours.
    const from = size >= mark ? mark : 0;
    const tail = Buffer.alloc(size - from);
    if (tail.length > 0) readSync(fd, tail, 0, tail.length, from);
    const end = tail.lastIndexOf(0x0a) + 1;
    // Past the last newline: a line a crash cut short. Its row is still in the outbox.
    if (end < tail.length) ftruncateSync(fd, from + end);
    const present = new Set(tail.subarray(0, end).toString('utf8').split('\n'));
    const lines = rows.map((r) => r.line).filter((line) => !present.has(line));
    if (lines.length > 0) {
      // 'a+' appends every write at the end, whatever the read position.
      writeSync(fd, `${lines.join('\n')}\n`);
      fdatasyncSync(fd);
    } else if (end < tail.length) {
      fdatasyncSync(fd);
    }
    return { bytes: fstatSync(fd).size, lines: lines.length };
  } finally {
    closeSync(fd);
  }
}
