/**
 * SIGINT and SIGTERM for the long-running commands (`run`, `demo`). Ctrl-C
 * under `npm run` reaches the process twice within milliseconds: from the
 * terminal (to the whole foreground process group) and forwarded by npm. That
 * is one request to stop, not the "again: exit now" of a second Ctrl-C.
 */

/** A repeat of a signal this soon after the last one delivered is the same request. */
const SAME_SIGNAL_MS = 1_000;

/** Calls `handler` on SIGINT and SIGTERM, once per request to stop. */
export function onStopSignals(handler: (signalName: NodeJS.Signals) => void): void {
  let last = Number.NEGATIVE_INFINITY;
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.on(name, () => {
      const now = Date.now();
      if (now - last < SAME_SIGNAL_MS) return;
      last = now;
      handler(name);
    });
  }
}
