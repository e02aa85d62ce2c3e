/**
 * Connection slots held in this process only: the budget where the stores
 * offer no shared slots (a test's hand-made stores). Every process counts for
 * itself, so the budget holds across processes only with a real store.
 */
import type { ConnectionSlots } from '../ports.ts';

export class MemoryConnectionSlots implements ConnectionSlots {
  readonly #slots = new Map<string, { holder: string; expiresAt: number }>();
  readonly #clock: () => number;
  readonly #wants = new Map<string, number>();

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  async tryAcquire(key: string, limit: number, holder: string, ttlMs: number): Promise<number | undefined> {
    if ((await this.held(key)) >= limit) return undefined;
    for (let slot = 0; slot < limit; slot++) {
      const id = `${key}\u0000${slot}`;
      const current = this.#slots.get(id);
      if (current && current.expiresAt >= this.#clock()) continue;
      this.#slots.set(id, { holder, expiresAt: this.#clock() + ttlMs });
      return slot;
    }
    return undefined;
  }

  async renew(key: string, slot: number, holder: string, ttlMs: number): Promise<boolean> {
    const current = this.#slots.get(`${key}\u0000${slot}`);
    if (!current || current.holder !== holder || current.expiresAt < this.#clock()) return false;
    current.expiresAt = this.#clock() + ttlMs;
    return true;
  }

  async release(key: string, slot: number, holder: string): Promise<void> {
    const id = `${key}\u0000${slot}`;
    if (this.#slots.get(id)?.holder === holder) this.#slots.delete(id);
  }

  async want(key: string, untilMs: number): Promise<void> {
    this.#wants.set(key, Math.max(this.#wants.get(key) ?? 0, untilMs));
  }

  async wanted(key: string): Promise<boolean> {
    return (this.#wants.get(key) ?? 0) >= this.#clock();
  }

  async held(key: string): Promise<number> {
    const now = this.#clock();
    let count = 0;
    for (const [id, entry] of this.#slots)
      if (id.startsWith(`${key}\u0000`) && entry.expiresAt >= now) count++;
    return count;
  }
}
