/** Capped exponential back-off: base, 2×base, 4×base … never more than cap. */
export function backoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** attempt);
}

/**
 * A process that has stayed up this long since it was ready is healthy: its
 * restart back-off starts again from the base (a child in the controller, a
 * Python worker in its child).
 */
export const HEALTHY_AFTER_MS = 10_000;
