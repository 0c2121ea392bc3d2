/**
 * The request counters a child keeps, in prom-client form so the controller
 * can sum every child's with AggregatorRegistry.aggregate (prom-client's own
 * design for multi-process servers). Only monotonic series live here: the
 * controller keeps the last report of every child that exited, so totals never
 * go backwards when a child is replaced; gauges (in flight, queued) travel as
 * plain numbers in the stats message instead.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { MetricJson } from '../../protocol/control-messages.js';

/** Seconds; from a cached hello world (under 1 ms) to a slow report. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export const statusClass = (status: number): StatusClass => STATUS_CLASSES[Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1]!;

export class RequestMetrics {
  readonly registry = new Registry();
  /** Responses so far by class, as plain numbers for status.json. */
  readonly responses: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  readonly #requests = new Counter({
    name: 'spawning_requests_total',
    help: 'HTTP responses sent, by status class.',
    labelNames: ['status_class'],
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'spawning_request_duration_seconds',
    help: 'Time from the request head to the end of the response.',
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  /** `responses` as the counter last saw them. */
  readonly #counted: Record<StatusClass, number> = { ...this.responses };

  observe(status: number, seconds: number): void {
    this.responses[statusClass(status)]++;
    this.#duration.observe(seconds);
  }

  /** prom-client's MetricType enum is its type names as strings, so this is the same JSON. */
  async json(): Promise<MetricJson[]> {
    // The counter catches up here rather than per response: inc() hashes its labels on every call.
    for (const cls of STATUS_CLASSES) {
      const delta = this.responses[cls] - this.#counted[cls];
      if (delta > 0) this.#requests.inc({ status_class: cls }, delta);
      this.#counted[cls] = this.responses[cls];
    }
    return (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
  }
}
