import { describe, expect, it } from 'vitest';
import { forEachLimited, WorkPool } from '#lib/work-pool.ts';

/** A task that records how many tasks ran beside it, and finishes after a macrotask. */
function tracking() {
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const task = async (item: number): Promise<void> => {
    started.push(item);
    running += 1;
    peak = Math.max(peak, running);
    await new Promise((resolve) => setTimeout(resolve, 1));
    running -= 1;
    if (item < 0) throw new Error(`task ${item} failed`);
  };
  return { task, started, peak: () => peak, running: () => running };
}

describe('bounded concurrency', () => {
  it('runs a list with at most `limit` tasks at once', async () => {
    const { task, started, peak } = tracking();
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, task);
    expect(started.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak()).toBe(3);
  });

  it('starts nothing after a failure, lets the running tasks finish, then throws the first failure', async () => {
    const { task, started, running } = tracking();
    await expect(forEachLimited([1, -2, 3, 4, 5, 6], 2, task)).rejects.toThrow('task -2 failed');
    expect(running()).toBe(0);
    expect(started.length).toBeLessThan(6);
  });

  it('takes tasks as they come, waiting only for a free slot', async () => {
    const { task, peak } = tracking();
    const pool = new WorkPool(2);
    for (const item of [1, 2, 3, 4]) await pool.start(() => task(item));
    await pool.drain();
    expect(peak()).toBe(2);
  });
});
