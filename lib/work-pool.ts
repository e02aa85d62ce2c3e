/**
 * Bounded concurrency, the one helper for it: at most `limit` tasks run at
 * once. `WorkPool` takes tasks as they come (the ingest path: `start` waits
 * only for a free slot, so the IMAP reader keeps going while earlier puts
 * finish); `forEachLimited` runs a list known up front. After a failure no
 * new task starts; the ones running finish, then the first failure is thrown.
 */
export class WorkPool {
  readonly #limit: number;
  readonly #running = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Starts `task` once fewer than `limit` tasks run; resolves when it has started. */
  async start(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#limit) await Promise.race(this.#running);
    this.#throwIfFailed();
    const running: Promise<void> = task()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  /** Waits for every started task; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}

/** Runs `task` over `items`, at most `limit` at once, in no promised order of completion. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const pool = new WorkPool(limit);
  try {
    for (const item of items) await pool.start(() => task(item));
  } finally {
    // Also after a failed start: the tasks already running finish before the error is thrown.
    await pool.drain();
  }
}
