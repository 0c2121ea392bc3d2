/**
 * Backpressure: a child gives its worker no more requests at once than the
 * worker can run (its threads, or --max-green greenlets). The rest wait here,
 * in the child, where they can still be counted, shed or given to a fresh
 * worker, up to --max-queue; beyond that the caller answers 503.
 *
 * The slots are a p-queue: a request holds its slot from the moment it is
 * handed over until its answer is complete (or it failed).
 *
 * Fast requests get a short pipeline on top: a worker that must wait a whole
 * round trip through the child for its next request idles between requests,
 * which costs a trivial app most of its throughput (measured: 24,000 → 4,000
 * requests/s with one thread). So the window is what the worker can run plus
 * what it completes in PREFETCH_MS at its recent rate: for 50 µs requests a
 * few dozen wait in the worker for at most a few milliseconds; for requests
 * that take 10 ms or more the window is exactly what the worker can run, and
 * everything else waits here.
 */
import PQueue from 'p-queue';

/** The longest a request should wait inside the worker, at the worker's recent rate. */
export const PREFETCH_MS = 5;
/** How often the rate is measured. */
const PERIOD_MS = 100;

/** Cumulative since the child started, except where said. */
export interface AdmissionCounters {
  /** Requests that had to wait for a slot. */
  queueWaited: number;
  /** Milliseconds they waited, in total. */
  queueWaitMs: number;
  /** Longest wait since the last snapshot. */
  queueMaxWaitMs: number;
  /** Answered 503 because the queue was full. */
  shed: number;
}

/** Takes a request's slot back; a no-op once it ran or was withdrawn. */
export type Release = () => void;

export class Admission {
  readonly #queue: PQueue;
  /** What the worker can run at once. */
  readonly #limit: number;
  readonly #maxQueue: number;
  readonly #counters: AdmissionCounters = { queueWaited: 0, queueWaitMs: 0, queueMaxWaitMs: 0, shed: 0 };
  /** Requests completed per second, smoothed over the last few periods. */
  #rate = 0;
  #completions = 0;
  #periodStart = performance.now();

  constructor(limit: number, maxQueue: number) {
    this.#queue = new PQueue({ concurrency: limit });
    this.#limit = limit;
    this.#maxQueue = maxQueue;
  }

  /** Requests the worker may hold now: what it can run plus the pipeline for fast requests. */
  get window(): number {
    return this.#queue.concurrency;
  }

  #adapt(now: number): void {
    const elapsed = now - this.#periodStart;
    if (elapsed < PERIOD_MS) return;
    const rate = (this.#completions * 1000) / elapsed;
    // The older rate counts half per period gone by: after a long quiet spell it is forgotten.
    const kept = 0.5 ** (elapsed / PERIOD_MS);
    this.#rate = this.#rate * kept + rate * (1 - kept);
    this.#completions = 0;
    this.#periodStart = now;
    const window = this.#limit + Math.floor((this.#rate * PREFETCH_MS) / 1000);
    if (window !== this.#queue.concurrency) this.#queue.concurrency = window;
  }

  /** Requests holding a slot. */
  get running(): number {
    return this.#queue.pending;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Runs `start` now, or once a slot is free; `start` gets the function that
   * frees the slot again. Returns null when the queue is full (shed the
   * request), else a function that withdraws the request while it still waits
   * (its client went away).
   */
  admit(start: (release: Release) => void): Release | null {
    const queue = this.#queue;
    const now = performance.now();
    this.#adapt(now);
    const mustWait = queue.pending >= queue.concurrency || queue.size > 0;
    if (mustWait && queue.size >= this.#maxQueue) {
      this.#counters.shed++;
      return null;
    }
    const counters = this.#counters;
    const queuedAt = now;
    const withdrawn = mustWait ? new AbortController() : null;
    let started = false;
    queue
      .add(
        () =>
          new Promise<void>((resolve) => {
            started = true;
            if (mustWait) {
              const waited = performance.now() - queuedAt;
              counters.queueWaited++;
              counters.queueWaitMs += waited;
              if (waited > counters.queueMaxWaitMs) counters.queueMaxWaitMs = waited;
            }
            let done = false;
            start(() => {
              if (done) return;
              done = true;
              this.#completions++;
              this.#adapt(performance.now());
              resolve();
            });
          }),
        withdrawn ? { signal: withdrawn.signal } : {},
      )
      .catch(() => {}); // a withdrawn request rejects; nothing waits on it
    // Aborting a running task would free its slot early: only a waiting one is withdrawn.
    return withdrawn
      ? () => {
          if (!started) withdrawn.abort();
        }
      : () => {};
  }

  /** The counters; the longest wait restarts from zero for the next period. */
  snapshot(): AdmissionCounters {
    const out = { ...this.#counters, queueWaitMs: Math.round(this.#counters.queueWaitMs), queueMaxWaitMs: Math.round(this.#counters.queueMaxWaitMs) };
    this.#counters.queueMaxWaitMs = 0;
    return out;
  }
}
