/**
 * Backpressure: a child gives its worker no more requests at once than the
 * worker can run (its threads, or --max-green greenlets). The rest wait here,
 * in the child, where they can still be counted, shed or given to a fresh
 * worker, up to --max-queue; beyond that the caller answers 503.
 *
 * The slots are a p-queue with that concurrency: a request holds its slot from
 * the moment it is handed over until its answer is complete (or it failed).
 */
import PQueue from 'p-queue';

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
  readonly #limit: number;
  readonly #maxQueue: number;
  readonly #counters: AdmissionCounters = { queueWaited: 0, queueWaitMs: 0, queueMaxWaitMs: 0, shed: 0 };

  constructor(limit: number, maxQueue: number) {
    this.#queue = new PQueue({ concurrency: limit });
    this.#limit = limit;
    this.#maxQueue = maxQueue;
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
    const mustWait = queue.pending >= this.#limit || queue.size > 0;
    if (mustWait && queue.size >= this.#maxQueue) {
      this.#counters.shed++;
      return null;
    }
    const counters = this.#counters;
    const queuedAt = mustWait ? performance.now() : 0;
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
            start(() => resolve());
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
