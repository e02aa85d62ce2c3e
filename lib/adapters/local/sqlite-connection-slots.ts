/**
 * Connection slots in the local SQLite database (table `connection_slots`),
 * shared by every process using the store folder. Taking a slot reads the
 * live slots and writes one inside one IMMEDIATE transaction, which holds the
 * database's write lock: two processes cannot both see the same free slot.
 *
 * Like leases, each slot records its process (pid and host): a slot whose
 * process is gone from this host counts as free at once, not when it expires.
 */
import type { ConnectionSlots } from '../../ports.ts';
import { isHolderGone, type ProcessHolder, thisProcess } from './process-holder.ts';
import type { SqliteDatabase } from './sqlite.ts';
import type { SqliteStoreOptions } from './sqlite-checkpoint-store.ts';

export interface SqliteConnectionSlotsOptions extends SqliteStoreOptions {
  /** The process recorded as holding the slots this store takes. @default this process */
  process?: ProcessHolder;
}

interface SlotRow {
  slot: number;
  holder: string;
  expires_at: number;
  holder_pid: number | null;
  holder_host: string | null;
}

/** `ConnectionSlots` over SQLite (`expires_at` in epoch ms). */
export class SqliteConnectionSlots implements ConnectionSlots {
  readonly #db: SqliteDatabase;
  readonly #clock: () => number;
  readonly #process: ProcessHolder;
  readonly #rows;
  readonly #put;
  readonly #renew;
  readonly #release;
  readonly #want;
  readonly #wanted;

  constructor(options: SqliteConnectionSlotsOptions) {
    const { db } = options;
    this.#db = db;
    this.#clock = options.clock ?? Date.now;
    this.#process = options.process ?? thisProcess();
    db.exec(`CREATE TABLE IF NOT EXISTS connection_slots (
      key TEXT NOT NULL,
      slot INTEGER NOT NULL,
      holder TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      holder_pid INTEGER,
      holder_host TEXT,
      PRIMARY KEY (key, slot)
    ) WITHOUT ROWID`);
    db.exec(`CREATE TABLE IF NOT EXISTS connection_wants (
      key TEXT PRIMARY KEY NOT NULL,
      until INTEGER NOT NULL
    ) WITHOUT ROWID`);
    this.#want = db.prepare<{ key: string; until: number }>(
      'INSERT INTO connection_wants (key, until) VALUES (@key, @until) ON CONFLICT (key) DO UPDATE SET until = MAX(until, @until)',
    );
    this.#wanted = db.prepare<[string, number]>(
      'SELECT 1 FROM connection_wants WHERE key = ? AND until >= ?',
    );
    this.#rows = db.prepare<[string]>(
      'SELECT slot, holder, expires_at, holder_pid, holder_host FROM connection_slots WHERE key = ?',
    );
    this.#put = db.prepare<{
      key: string;
      slot: number;
      holder: string;
      expiresAt: number;
      pid: number;
      host: string;
    }>(
      `INSERT OR REPLACE INTO connection_slots (key, slot, holder, expires_at, holder_pid, holder_host)
       VALUES (@key, @slot, @holder, @expiresAt, @pid, @host)`,
    );
    // An expired slot is lost even if nobody took it yet: its session must end, not carry on.
    this.#renew = db.prepare<{ key: string; slot: number; holder: string; expiresAt: number; now: number }>(
      `UPDATE connection_slots SET expires_at = @expiresAt
       WHERE key = @key AND slot = @slot AND holder = @holder AND expires_at >= @now`,
    );
    this.#release = db.prepare<[string, number, string]>(
      'DELETE FROM connection_slots WHERE key = ? AND slot = ? AND holder = ?',
    );
  }

  async tryAcquire(key: string, limit: number, holder: string, ttlMs: number): Promise<number | undefined> {
    const take = this.#db.transaction((): number | undefined => {
      const now = this.#clock();
      const taken = new Set(
        (this.#rows.all(key) as SlotRow[]).filter((row) => live(row, now)).map((row) => row.slot),
      );
      // Slots numbered past a lowered limit still count until they end.
      if (taken.size >= limit) return undefined;
      for (let slot = 0; slot < limit; slot++) {
        if (taken.has(slot)) continue;
        const { pid, host } = this.#process;
        this.#put.run({ key, slot, holder, expiresAt: now + ttlMs, pid, host });
        return slot;
      }
      return undefined;
    });
    return take.immediate();
  }

  async renew(key: string, slot: number, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    return this.#renew.run({ key, slot, holder, expiresAt: now + ttlMs, now }).changes === 1;
  }

  async release(key: string, slot: number, holder: string): Promise<void> {
    this.#release.run(key, slot, holder);
  }

  async want(key: string, untilMs: number): Promise<void> {
    this.#want.run({ key, until: untilMs });
  }

  async wanted(key: string): Promise<boolean> {
    return this.#wanted.get(key, this.#clock()) !== undefined;
  }

  async held(key: string): Promise<number> {
    const now = this.#clock();
    return (this.#rows.all(key) as SlotRow[]).filter((row) => live(row, now)).length;
  }
}

function live(row: SlotRow, now: number): boolean {
  return row.expires_at >= now && !isHolderGone({ pid: row.holder_pid, host: row.holder_host });
}
