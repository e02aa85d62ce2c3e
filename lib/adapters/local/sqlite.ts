/**
 * The local stand-ins share one SQLite database, `<store dir>/postroom.db`.
 * WAL with `synchronous = FULL` makes a committed transaction durable, which is
 * what "the checkpoint only moves once the queue rows are on disk" needs.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

const open = new Map<string, SqliteDatabase>();

/** Opens (once per process and path) the database at `file`, creating its folder. */
export function openDatabase(file: string): SqliteDatabase {
  const existing = open.get(file);
  if (existing?.open) return existing;
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Pollers and consumers may share the file across processes (`postroom run` and a CLI call).
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (file !== ':memory:') open.set(file, db);
  return db;
}

/** Closes every database this process opened (tests, graceful shutdown). */
export function closeAllDatabases(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}
