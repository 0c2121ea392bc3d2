/**
 * Which child to replace for --max-memory and --max-age. Pure functions: the
 * runtime samples, the controller machine replaces (one at a time, each
 * replacement ready before its predecessor drains).
 */

export interface ChildSample {
  id: number;
  /** Child plus its Python worker, bytes. */
  rss: number;
  /** Its RSS when first sampled after becoming ready: what a fresh child weighs. */
  initialRss: number;
  /** When it became ready, ms since the epoch. */
  readyAt: number;
}

/**
 * Over the limit: the largest child goes first. No storm: only a child that
 * has grown past 1.2 × what a fresh child weighs is replaced, since replacing
 * one that is still fresh-sized frees nothing (an app that is simply big must
 * get a larger limit, not a restart loop).
 */
export function chooseMemoryEviction(limit: number, total: number, children: readonly ChildSample[]): number | null {
  if (total <= limit || children.length === 0) return null;
  const fresh = Math.min(...children.map((c) => c.initialRss));
  const candidates = children.filter((c) => c.rss > fresh * 1.2).sort((a, b) => b.rss - a.rss);
  return candidates[0]?.id ?? null;
}

/** Up to 10% of max-age, fixed per child id, so children started together do not restart together. */
export function ageJitter(id: number, maxAgeMs: number): number {
  let h = (id * 2654435761) >>> 0; // Knuth's multiplicative hash
  h = (h ^ (h >>> 16)) >>> 0;
  return Math.floor(((h % 1000) / 1000) * 0.1 * maxAgeMs);
}

/** The oldest child past its (jittered) age limit. */
export function chooseAgeEviction(maxAgeMs: number, now: number, children: readonly ChildSample[]): number | null {
  let oldest: ChildSample | null = null;
  for (const c of children) {
    if (now - c.readyAt <= maxAgeMs + ageJitter(c.id, maxAgeMs)) continue;
    if (!oldest || c.readyAt < oldest.readyAt) oldest = c;
  }
  return oldest?.id ?? null;
}
