/**
 * Backpressure: a child gives its worker no more requests at once than the
 * worker can run (its threads, or --max-green greenlets). The rest wait here,
 * in the child, where they can still be counted, shed or given to a fresh
 * worker, up to --max-queue; beyond that the caller answers 503.
 *
 * A request holds its slot from the moment it is handed over until its answer
 * is complete (or it failed). While a slot is free and nobody waits, a request
 * takes it at once, synchronously. Requests that must wait line up in a plain
 * FIFO that keeps their order, counts them, and withdraws one whose client
 * left; freed slots go to them in one microtask per batch, never inside the
 * release that freed them. (Through p-queue, each waiting request paid for an
 * async task, two promises and an AbortController: the 64 KB echo, where most
 * requests wait, answered 15% fewer requests/s; BENCHMARKS.md.)
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
  /** Requests waiting for a slot, oldest first from #head; withdrawn ones stay until they reach the head. */
  #line: Waiter[] = [];
  #head = 0;
  /** Waiters in #line not withdrawn. */
  #queued = 0;
  #wakeScheduled = false;
  /** What the worker can run at once. */
  readonly #limit: number;
  readonly #maxQueue: number;
  readonly #counters: AdmissionCounters = { queueWaited: 0, queueWaitMs: 0, queueMaxWaitMs: 0, shed: 0 };
  /** Requests holding a slot. */
  #running = 0;
  /** What the worker may hold now: its limit plus the pipeline. */
  #window: number;
  /** Requests completed per second, smoothed over the last few periods. */
  #rate = 0;
  #completions = 0;
  #periodStart = performance.now();

  constructor(
    limit: number,
    maxQueue: number,
    /** Requests that wait elsewhere in the child and count against --max-queue (connections not read yet, connection-handoff.ts). */
    private readonly waitingElsewhere: () => number = () => 0,
  ) {
    this.#limit = limit;
    this.#window = limit;
    this.#maxQueue = maxQueue;
  }

  /** Requests the worker may hold now: what it can run plus the pipeline for fast requests. */
  get window(): number {
    return this.#window;
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
    this.#window = this.#limit + Math.floor((this.#rate * PREFETCH_MS) / 1000);
    this.#wake();
  }

  /** Free slots go to the line in a microtask: a release never starts the next request inside itself. */
  #wake(): void {
    if (this.#wakeScheduled || this.#queued === 0 || this.#running >= this.#window) return;
    this.#wakeScheduled = true;
    queueMicrotask(this.#startWaiters);
  }

  readonly #startWaiters = (): void => {
    this.#wakeScheduled = false;
    const line = this.#line;
    const now = performance.now();
    while (this.#running < this.#window && this.#head < line.length) {
      const waiter = line[this.#head++]!;
      if (waiter.withdrawn) continue;
      waiter.withdrawn = true; // started: withdrawing it now frees nothing
      this.#queued--;
      const waited = now - waiter.since;
      const counters = this.#counters;
      counters.queueWaited++;
      counters.queueWaitMs += waited;
      if (waited > counters.queueMaxWaitMs) counters.queueMaxWaitMs = waited;
      this.#running++;
      waiter.start(this.#releaser());
    }
    if (this.#head === line.length) {
      this.#line = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > line.length) {
      this.#line = line.slice(this.#head);
      this.#head = 0;
    }
  };

  /** Requests holding a slot. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Runs `start` now, or once a slot is free; `start` gets the function that
   * frees the slot again. Returns null when the queue is full (shed the
   * request), else a function that withdraws the request while it still waits
   * (its client went away).
   */
  admit(start: (release: Release) => void): Release | null {
    const now = performance.now();
    this.#adapt(now);
    if (this.#running < this.#window && this.queued === 0) {
      this.#running++;
      start(this.#releaser());
      return withdrawNothing;
    }
    if (this.queued + this.waitingElsewhere() >= this.#maxQueue) {
      this.#counters.shed++;
      return null;
    }
    const waiter: Waiter = { start, since: now, withdrawn: false };
    this.#line.push(waiter);
    this.#queued++;
    return () => {
      if (waiter.withdrawn) return;
      waiter.withdrawn = true;
      this.#queued--;
    };
  }

  /** The release of one slot: it counts once, however often it is called. */
  #releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#running--;
      this.#completions++;
      this.#adapt(performance.now());
      this.#wake();
    };
  }

  /** A request that waited elsewhere for its slot (unread, as a connection), `ms` long: counted as a wait here. */
  waited(ms: number): void {
    const counters = this.#counters;
    counters.queueWaited++;
    counters.queueWaitMs += ms;
    if (ms > counters.queueMaxWaitMs) counters.queueMaxWaitMs = ms;
  }

  /** The counters; the longest wait restarts from zero for the next period. */
  snapshot(): AdmissionCounters {
    const out = { ...this.#counters, queueWaitMs: Math.round(this.#counters.queueWaitMs), queueMaxWaitMs: Math.round(this.#counters.queueMaxWaitMs) };
    this.#counters.queueMaxWaitMs = 0;
    return out;
  }
}

const withdrawNothing: Release = () => {};

interface Waiter {
  readonly start: (release: Release) => void;
  /** performance.now() when it began to wait. */
  readonly since: number;
  /** Withdrawn by its client, or started. */
  withdrawn: boolean;
}
