/** The child's plain request counters report exactly what prom-client would, so the controller's aggregation sums them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS, DURATION_METRIC, REQUESTS_METRIC, RequestMetrics, statusClass } from '../../src/status/request-metrics.js';

function promClient(): { observe(status: number, seconds: number): void; json(): Promise<unknown> } {
  const registry = new Registry();
  const requests = new Counter({ ...REQUESTS_METRIC, labelNames: ['status_class'], registers: [registry] });
  const duration = new Histogram({ ...DURATION_METRIC, buckets: DURATION_BUCKETS, registers: [registry] });
  return {
    observe: (status, seconds) => {
      requests.inc({ status_class: statusClass(status) });
      duration.observe(seconds);
    },
    json: () => registry.getMetricsAsJSON(),
  };
}

/** As JSON, with each metric's values in label order: prom-client lists labels in the order it first saw them, and the sum ignores order. */
function normal(metrics: unknown): unknown {
  const list = JSON.parse(JSON.stringify(metrics)) as Array<{ values: Array<{ labels: Record<string, unknown>; metricName?: string }> }>;
  for (const m of list) m.values.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)) || (a.metricName ?? '').localeCompare(b.metricName ?? ''));
  return list;
}

describe('RequestMetrics', () => {
  it('reports the same JSON as prom-client for the same responses, bucket bounds included', async () => {
    const ours = new RequestMetrics();
    const theirs = promClient();
    assert.deepEqual(normal(ours.json()), normal(await theirs.json()), 'before any response');
    const seen: Array<[number, number]> = [[200, 0.0004], [200, 0.001], [404, 0.0011], [500, 2.5], [503, 31], [101, 0.02], [302, 10]];
    for (const [status, seconds] of seen) {
      ours.observe(status, seconds);
      theirs.observe(status, seconds);
    }
    assert.deepEqual(normal(ours.json()), normal(await theirs.json()));
    assert.deepEqual(ours.responses, { '1xx': 1, '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 2 });
  });
});
