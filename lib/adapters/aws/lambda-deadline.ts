/**
 * When a Lambda handler stops starting work: `marginMs` before the function's
 * timeout, so that the work in flight can end cleanly (a checkpoint saved,
 * results reported), but never with less than half the time it has left.
 * Without a Lambda context (a test calling the handler), one minute.
 */
export function deadlineBefore(
  context: { getRemainingTimeInMillis?: () => number },
  marginMs: number,
  now = Date.now(),
): number {
  const remaining = context.getRemainingTimeInMillis?.() ?? 60_000;
  return now + Math.max(remaining / 2, remaining - marginMs);
}
