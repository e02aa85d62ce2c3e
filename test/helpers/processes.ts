/**
 * Real processes for crash tests: one alive until the test ends, or one that
 * was SIGKILLed and reaped (its pid really gone), to stand as the holder of a
 * lease, a queue receive or a temp file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

const alive = new Set<ChildProcess>();

/** A process that idles until {@link killLiving} (or the test's end, if it calls that). */
export async function livingProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  alive.add(child);
  return child.pid!;
}

/** The pid of a process that was started, SIGKILLed and reaped. */
export async function deadProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const pid = child.pid!;
  await sigkill(child);
  return pid;
}

/** SIGKILLs the child and waits until it was reaped (a zombie's pid still answers kill(pid, 0)). */
export async function sigkill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  alive.delete(child);
}

/** Kills every process {@link livingProcess} started (in afterEach/afterAll). */
export async function killLiving(): Promise<void> {
  await Promise.all([...alive].map(sigkill));
}
