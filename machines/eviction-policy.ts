/**
 * Which child to replace for --max-memory and --max-age. Pure functions of
 * the figures the runtime samples; the controller machine does the replacing
 * (one at a time, each replacement ready before its predecessor drains).
 *
 * The rules, in the order `decideEviction` applies them:
 *
 * 1. One at a time. Nothing is chosen while a replacement is in progress
 *    (a child is starting or draining): its memory and its slot are in flux.
 * 2. Back off after a futile replacement. A memory replacement is futile when
 *    the fresh child, once ready, already weighs more than its fair share of
 *    the limit (limit minus the controller, split evenly): the app is simply
 *    that big, and replacing again would free nothing and restart forever (a
 *    storm). A replacement that failed (the new child never became ready) is
 *    futile too, for either reason. After k futile replacements in a row,
 *    nothing is replaced for base × 2^(k-1) (capped), counted from the last.
 * 3. Memory first: while the total (controller + children + workers) is over
 *    the limit, the largest child that has grown is replaced. "Grown" means
 *    above GROWTH × what a fresh child weighs (the smallest RSS any child had
 *    when it became ready): a fresh-sized child is not the leak.
 * 4. Then age: the oldest child older than max-age plus its jitter. The
 *    jitter (up to 10 % of max-age, fixed per child id and seed) spreads
 *    children that started together, so they do not all restart together.
 */
import { backoff } from './backoff.js';

/** The figures the controller's runtime keeps per child (as sampled from /proc). */
export interface ChildSample {
  id: number;
  /** Child plus its Python worker, bytes. */
  rss: number;
  /** Its RSS when first sampled after becoming ready: what a fresh child weighs. */
  initialRss: number;
  /** When it became ready, ms since the epoch. */
  readyAt: number;
}

export type ChildPhase = 'starting' | 'ready' | 'draining';

export interface EvictionChild extends ChildSample {
  state: ChildPhase;
}

export interface Replacement {
  /** The child replaced. */
  oldId: number;
  /** Its replacement (may be gone by now). */
  newId: number;
  reason: 'memory' | 'age';
  /** When the replacement finished (the new child ready, or given up on), ms since the epoch. */
  at: number;
  /** False when the new child never became ready. */
  ok: boolean;
}

export interface EvictionInput {
  now: number;
  /** Bytes, or null without --max-memory. */
  maxMemory: number | null;
  /** Milliseconds, or null without --max-age. */
  maxAgeMs: number | null;
  /** Controller + every child + every worker, bytes. */
  total: number;
  children: readonly EvictionChild[];
  /** Recent replacements, oldest first; the last few are enough. */
  recent: readonly Replacement[];
  /** True while the controller is replacing or reloading, even if `children` does not show it yet. */
  replacing?: boolean;
  /** Seed for the age jitter (e.g. the controller's pid), so restarts of the server spread differently. */
  seed?: number;
}

export type EvictionDecision =
  | { replace: number; reason: 'memory' | 'age'; why: string; figures: Record<string, number> }
  | { replace: null; why: 'no-limit' | 'replacing' | 'backoff' | 'under-limit' | 'no-candidate'; until?: number };

export const EVICTION_DEFAULTS = {
  /** A child must weigh this much more than a fresh one to count as grown. */
  growth: 1.2,
  /** First back-off after a futile replacement. */
  backoffBaseMs: 30_000,
  /** Longest back-off. */
  backoffCapMs: 10 * 60_000,
  /** Largest age jitter, as a fraction of max-age. */
  jitterFraction: 0.1,
} as const;

const MB = 1024 * 1024;
const mb = (n: number): string => `${Math.round(n / MB)}M`;

/** Up to 10% of max-age, fixed per child id (and seed), so children started together do not restart together. */
export function ageJitter(id: number, maxAgeMs: number, seed = 0): number {
  // Knuth's multiplicative hash, then an xorshift to spread the low bits.
  let h = Math.imul((id ^ Math.imul(seed, 0x9e3779b1)) >>> 0, 2654435761) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return Math.floor(((h % 1000) / 1000) * EVICTION_DEFAULTS.jitterFraction * maxAgeMs);
}

/** What a fresh child weighs: the smallest RSS any child had when it became ready. */
function freshWeight(children: readonly ChildSample[]): number {
  const known = children.map((c) => c.initialRss).filter((r) => r > 0);
  return known.length > 0 ? Math.min(...known) : 0;
}

/** A fair share of the limit per child: the limit minus what the controller itself uses, split evenly. */
export function fairShare(limit: number, total: number, children: readonly ChildSample[]): number {
  const childrenRss = children.reduce((sum, c) => sum + c.rss, 0);
  const controller = Math.max(0, total - childrenRss);
  return children.length > 0 ? Math.max(0, limit - controller) / children.length : limit;
}

/** Futile replacements in a row at the end of `recent` (see rule 2); the back-off they impose ends at the returned time. */
export function backoffUntil(input: Pick<EvictionInput, 'maxMemory' | 'total' | 'children' | 'recent'>): number | null {
  const share = input.maxMemory === null ? Infinity : fairShare(input.maxMemory, input.total, input.children);
  let streak = 0;
  for (let i = input.recent.length - 1; i >= 0; i--) {
    const r = input.recent[i]!;
    const fresh = input.children.find((c) => c.id === r.newId);
    // Judged by what the fresh child weighed when it started: one that then leaks like its predecessor is not futile.
    const futile = !r.ok || (r.reason === 'memory' && fresh !== undefined && fresh.state === 'ready' && fresh.initialRss > share);
    if (!futile) break;
    streak++;
  }
  if (streak === 0) return null;
  const last = input.recent[input.recent.length - 1]!;
  return last.at + backoff(streak - 1, EVICTION_DEFAULTS.backoffBaseMs, EVICTION_DEFAULTS.backoffCapMs);
}

/** Over the limit: the largest grown child (rule 3), or null. */
export function chooseMemoryEviction(limit: number, total: number, children: readonly ChildSample[]): number | null {
  if (total <= limit || children.length === 0) return null;
  const fresh = freshWeight(children);
  const candidates = children.filter((c) => c.rss > fresh * EVICTION_DEFAULTS.growth).sort((a, b) => b.rss - a.rss || a.readyAt - b.readyAt);
  return candidates[0]?.id ?? null;
}

/** The oldest child past its (jittered) age limit (rule 4), or null. */
export function chooseAgeEviction(maxAgeMs: number, now: number, children: readonly ChildSample[], seed = 0): number | null {
  let oldest: ChildSample | null = null;
  for (const c of children) {
    if (now - c.readyAt <= maxAgeMs + ageJitter(c.id, maxAgeMs, seed)) continue;
    if (!oldest || c.readyAt < oldest.readyAt || (c.readyAt === oldest.readyAt && c.id < oldest.id)) oldest = c;
  }
  return oldest?.id ?? null;
}

/** All four rules: the one child to replace now, or why none. */
export function decideEviction(input: EvictionInput): EvictionDecision {
  const { maxMemory, maxAgeMs, children } = input;
  if (maxMemory === null && maxAgeMs === null) return { replace: null, why: 'no-limit' };
  if (input.replacing || children.some((c) => c.state !== 'ready')) return { replace: null, why: 'replacing' };
  const until = backoffUntil(input);
  if (until !== null && input.now < until) return { replace: null, why: 'backoff', until };

  let overLimit = false;
  if (maxMemory !== null && input.total > maxMemory) {
    overLimit = true;
    const id = chooseMemoryEviction(maxMemory, input.total, children);
    if (id !== null) {
      const rss = children.find((c) => c.id === id)!.rss;
      return {
        replace: id,
        reason: 'memory',
        why: `total RSS ${mb(input.total)} is over --max-memory ${mb(maxMemory)}; child #${id} is the largest (${mb(rss)})`,
        figures: { total_rss_bytes: input.total, max_memory_bytes: maxMemory, child_rss_bytes: rss },
      };
    }
  }
  if (maxAgeMs !== null) {
    const id = chooseAgeEviction(maxAgeMs, input.now, children, input.seed);
    if (id !== null) {
      const age = Math.round((input.now - children.find((c) => c.id === id)!.readyAt) / 1000);
      return {
        replace: id,
        reason: 'age',
        why: `child #${id} is ${age}s old, over --max-age ${Math.round(maxAgeMs / 1000)}s`,
        figures: { age_seconds: age, max_age_seconds: Math.round(maxAgeMs / 1000) },
      };
    }
  }
  return { replace: null, why: overLimit ? 'no-candidate' : 'under-limit' };
}
