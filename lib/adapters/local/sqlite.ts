/**
 * The local stand-ins share one SQLite database, `<store dir>/postroom.db`.
 * WAL with `synchronous = FULL` makes a committed transaction durable, which is
 * what "the checkpoint only moves once the queue rows are on disk" needs.
 *
 * Leases need less: a lease only keeps two live pollers apart, so it must
 * survive its process crashing, not the machine (then its holder is gone too,
 * and the lease would expire anyway). They use a second connection with
 * `synchronous = NORMAL` (WAL: no fsync per commit), which takes two fsyncs off
 * every poll, the empty ones included.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

const open = new Map<string, SqliteDatabase>();

/** `machine`: a commit survives power loss (fsync per commit); `process`: it survives the process dying. */
export type Durability = 'machine' | 'process';

/** Opens (once per process, path and durability) the database at `file`, creating its folder. */
export function openDatabase(file: string, durability: Durability = 'machine'): SqliteDatabase {
  const key = `${file}#${durability}`;
  const existing = open.get(key);
  if (existing?.open) return existing;
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(durability === 'machine' ? 'synchronous = FULL' : 'synchronous = NORMAL');
  // Pollers and consumers may share the file across processes (`postroom run` and a CLI call).
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (file !== ':memory:') open.set(key, db);
  return db;
}

/** Closes every database this process opened (tests, graceful shutdown). */
export function closeAllDatabases(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}

/**
 * Adds the columns a table created by an earlier version lacks (`CREATE TABLE
 * IF NOT EXISTS` leaves an existing table as it was). Each is nullable.
 */
export function addMissingColumns(db: SqliteDatabase, table: string, columns: Record<string, string>): void {
  const present = new Set((db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name));
  for (const [name, type] of Object.entries(columns)) {
    if (present.has(name)) continue;
    try {
      db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
    } catch (error) {
      // Another process opening the same file added it first.
      if (!/duplicate column name/i.test((error as Error).message)) throw error;
    }
  }
}
