/**
 * Which Python worker to replace for --max-memory and --max-age. Pure
 * functions of the figures the runtime samples; the controller machine asks
 * the worker's child to do the replacing (one at a time, each replacement
 * ready before its predecessor stops taking requests). The unit is the worker,
 * not its child: the app's memory grows in the worker, and a child feeds
 * several, which keep serving meanwhile.
 *
 * The rules, in the order `decideEviction` applies them:
 *
 * 1. One at a time. Nothing is chosen while a replacement is in progress
 *    (a worker is starting, or retiring): its memory is in flux.
 * 2. Back off after a futile replacement. A memory replacement is futile when
 *    the fresh worker, once ready, already weighs more than its fair share of
 *    the limit (limit minus the controller and fronts, split evenly): the app is simply
 *    that big, and replacing again would free nothing and restart forever (a
 *    storm). A replacement that failed (the new worker never became ready) is
 *    futile too, for either reason. After k futile replacements in a row,
 *    nothing is replaced for base × 2^(k-1) (capped), counted from the last.
 * 3. Memory first: while the total (controller + fronts + workers) is over
 *    the limit, the largest worker that has grown is replaced. "Grown" means
 *    above GROWTH × what a fresh worker weighs (the smallest RSS any worker had
 *    when it became ready): a fresh-sized worker is not the leak.
 * 4. Then age: the oldest worker older than max-age plus its jitter. The
 *    jitter (up to 10 % of max-age, fixed per worker pid and seed) spreads
 *    workers that started together, so they do not all restart together.
 */
import { backoff } from './backoff.js';

/** The figures the controller's runtime keeps per Python worker (as its child samples them from /proc). */
export interface WorkerSample {
  /** The worker's pid. */
  id: number;
  /** Bytes. */
  rss: number;
  /** Its RSS when first sampled after becoming ready: what a fresh worker weighs. */
  initialRss: number;
  /** When it became ready, ms since the epoch. */
  readyAt: number;
}

export type WorkerPhase = 'starting' | 'ready' | 'retiring';

export interface EvictionWorker extends WorkerSample {
  state: WorkerPhase;
}

export interface Replacement {
  /** The worker replaced (pid). */
  oldId: number;
  /** Its replacement (pid; may be gone by now, or 0 when it never started). */
  newId: number;
  reason: 'memory' | 'age';
  /** When the replacement finished (the new worker ready, or given up on), ms since the epoch. */
  at: number;
  /** False when the new worker never became ready. */
  ok: boolean;
}

export interface EvictionInput {
  now: number;
  /** Bytes, or null without --max-memory. */
  maxMemory: number | null;
  /** Milliseconds, or null without --max-age. */
  maxAgeMs: number | null;
  /** Controller + every front + every worker, bytes. */
  total: number;
  workers: readonly EvictionWorker[];
  /** Recent replacements, oldest first; the last few are enough. */
  recent: readonly Replacement[];
  /** True while the controller is replacing or reloading, even if `workers` does not show it yet. */
  replacing?: boolean;
  /** Seed for the age jitter (e.g. the controller's pid), so restarts of the server spread differently. */
  seed?: number;
}

export type EvictionDecision =
  | { replace: number; reason: 'memory' | 'age'; why: string; figures: Record<string, number> }
  | { replace: null; why: 'no-limit' | 'replacing' | 'backoff' | 'under-limit' | 'no-candidate'; until?: number };

export const EVICTION_DEFAULTS = {
  /** A worker must weigh this much more than a fresh one to count as grown. */
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

/** Up to 10% of max-age, fixed per worker pid (and seed), so workers started together do not restart together. */
export function ageJitter(id: number, maxAgeMs: number, seed = 0): number {
  // Knuth's multiplicative hash, then an xorshift to spread the low bits.
  let h = Math.imul((id ^ Math.imul(seed, 0x9e3779b1)) >>> 0, 2654435761) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return Math.floor(((h % 1000) / 1000) * EVICTION_DEFAULTS.jitterFraction * maxAgeMs);
}

/** What a fresh worker weighs: the smallest RSS any worker had when it became ready. */
function freshWeight(workers: readonly WorkerSample[]): number {
  const known = workers.map((c) => c.initialRss).filter((r) => r > 0);
  return known.length > 0 ? Math.min(...known) : 0;
}

/** A fair share of the limit per worker: the limit minus what the controller and fronts use, split evenly. */
export function fairShare(limit: number, total: number, workers: readonly WorkerSample[]): number {
  const workersRss = workers.reduce((sum, c) => sum + c.rss, 0);
  const rest = Math.max(0, total - workersRss);
  return workers.length > 0 ? Math.max(0, limit - rest) / workers.length : limit;
}

/** Futile replacements in a row at the end of `recent` (see rule 2); the back-off they impose ends at the returned time. */
export function backoffUntil(input: Pick<EvictionInput, 'maxMemory' | 'total' | 'workers' | 'recent'>): number | null {
  const share = input.maxMemory === null ? Infinity : fairShare(input.maxMemory, input.total, input.workers);
  let streak = 0;
  for (let i = input.recent.length - 1; i >= 0; i--) {
    const r = input.recent[i]!;
    const fresh = input.workers.find((c) => c.id === r.newId);
    // Judged by what the fresh worker weighed when it started: one that then leaks like its predecessor is not futile.
    const futile = !r.ok || (r.reason === 'memory' && fresh !== undefined && fresh.state === 'ready' && fresh.initialRss > share);
    if (!futile) break;
    streak++;
  }
  if (streak === 0) return null;
  const last = input.recent[input.recent.length - 1]!;
  return last.at + backoff(streak - 1, EVICTION_DEFAULTS.backoffBaseMs, EVICTION_DEFAULTS.backoffCapMs);
}

/** Over the limit: the largest grown worker (rule 3), or null. */
export function chooseMemoryEviction(limit: number, total: number, workers: readonly WorkerSample[]): number | null {
  if (total <= limit || workers.length === 0) return null;
  const fresh = freshWeight(workers);
  const candidates = workers.filter((c) => c.rss > fresh * EVICTION_DEFAULTS.growth).sort((a, b) => b.rss - a.rss || a.readyAt - b.readyAt);
  return candidates[0]?.id ?? null;
}

/** The oldest worker past its (jittered) age limit (rule 4), or null. */
export function chooseAgeEviction(maxAgeMs: number, now: number, workers: readonly WorkerSample[], seed = 0): number | null {
  let oldest: WorkerSample | null = null;
  for (const c of workers) {
    if (now - c.readyAt <= maxAgeMs + ageJitter(c.id, maxAgeMs, seed)) continue;
    if (!oldest || c.readyAt < oldest.readyAt || (c.readyAt === oldest.readyAt && c.id < oldest.id)) oldest = c;
  }
  return oldest?.id ?? null;
}

/** All four rules: the one worker to replace now, or why none. */
export function decideEviction(input: EvictionInput): EvictionDecision {
  const { maxMemory, maxAgeMs, workers } = input;
  if (maxMemory === null && maxAgeMs === null) return { replace: null, why: 'no-limit' };
  if (input.replacing || workers.some((c) => c.state !== 'ready')) return { replace: null, why: 'replacing' };
  const until = backoffUntil(input);
  if (until !== null && input.now < until) return { replace: null, why: 'backoff', until };

  let overLimit = false;
  if (maxMemory !== null && input.total > maxMemory) {
    overLimit = true;
    const id = chooseMemoryEviction(maxMemory, input.total, workers);
    if (id !== null) {
      const rss = workers.find((c) => c.id === id)!.rss;
      return {
        replace: id,
        reason: 'memory',
        why: `total RSS ${mb(input.total)} is over --max-memory ${mb(maxMemory)}; worker ${id} is the largest (${mb(rss)})`,
        figures: { total_rss_bytes: input.total, max_memory_bytes: maxMemory, worker_rss_bytes: rss },
      };
    }
  }
  if (maxAgeMs !== null) {
    const id = chooseAgeEviction(maxAgeMs, input.now, workers, input.seed);
    if (id !== null) {
      const age = Math.round((input.now - workers.find((c) => c.id === id)!.readyAt) / 1000);
      return {
        replace: id,
        reason: 'age',
        why: `worker ${id} is ${age}s old, over --max-age ${Math.round(maxAgeMs / 1000)}s`,
        figures: { age_seconds: age, max_age_seconds: Math.round(maxAgeMs / 1000) },
      };
    }
  }
  return { replace: null, why: overLimit ? 'no-candidate' : 'under-limit' };
}
