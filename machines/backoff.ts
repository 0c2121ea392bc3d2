/** Capped exponential back-off: base, 2×base, 4×base … never more than cap. */
export function backoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** attempt);
}
