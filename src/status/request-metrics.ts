/**
 * The request counters a child keeps, reported in prom-client's JSON form so
 * the controller can sum every child's with AggregatorRegistry.aggregate
 * (prom-client's own design for multi-process servers). Only monotonic series
 * live here: the controller keeps the last report of every child that exited,
 * so totals never go backwards when a child is replaced; gauges (in flight,
 * queued) travel as plain numbers in the stats message instead.
 *
 * Plain numbers, not prom-client objects: a child observes every request, and
 * prom-client cost each child about 10 MB of RSS and a label hash per update;
 * test/status/request-metrics.test.ts checks that the JSON is prom-client's.
 */
import type { MetricJson } from '../../protocol/control-messages.js';

/** Seconds; from a cached hello world (under 1 ms) to a slow report. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export const statusClass = (status: number): StatusClass => STATUS_CLASSES[Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1]!;

export const REQUESTS_METRIC = { name: 'spawning_requests_total', help: 'HTTP responses sent, by status class.' } as const;
export const DURATION_METRIC = { name: 'spawning_request_duration_seconds', help: 'Time from the request head to the end of the response.' } as const;

export class RequestMetrics {
  /** Responses so far by class, as plain numbers for status.json. */
  readonly responses: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly #buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  #sum = 0;
  #count = 0;

  observe(status: number, seconds: number): void {
    this.responses[statusClass(status)]++;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.#buckets[i]!++;
    this.#sum += seconds;
    this.#count++;
  }

  json(): MetricJson[] {
    const requests = STATUS_CLASSES.filter((cls) => this.responses[cls] > 0).map((cls) => ({ value: this.responses[cls], labels: { status_class: cls } }));
    const bucket = `${DURATION_METRIC.name}_bucket`;
    let cumulative = 0;
    const le: Array<number | string> = [...DURATION_BUCKETS, '+Inf'];
    const buckets = le.map((bound, i) => {
      cumulative += this.#buckets[i]!;
      return { value: cumulative, metricName: bucket, exemplar: null, labels: { le: bound } };
    });
    return [
      { ...REQUESTS_METRIC, type: 'counter', values: requests, aggregator: 'sum' },
      {
        ...DURATION_METRIC,
        type: 'histogram',
        values: [
          ...buckets,
          { value: this.#sum, metricName: `${DURATION_METRIC.name}_sum`, labels: {} },
          { value: this.#count, metricName: `${DURATION_METRIC.name}_count`, labels: {} },
        ],
        aggregator: 'sum',
      },
    ];
  }
}
