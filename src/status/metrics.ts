/**
 * GET /metrics: the controller's own series (children, memory, reloads,
 * evictions, crashes) merged with the children's request counters and
 * duration histogram, summed across live children and those that exited.
 */
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { MetricJson } from '../../protocol/control-messages.js';
import type { StatusStore } from './status-store.js';

/** Past this many exited children's reports, they are summed into one. */
const RETIRED_COMPACT_AT = 8;

export interface ControllerCounts {
  ready: number;
  configured: number;
}

export class MetricsExporter {
  readonly registry = new Registry();

  constructor(
    private readonly store: StatusStore,
    counts: () => ControllerCounts,
  ) {
    const registers = [this.registry];
    new Gauge({ name: 'spawning_children_ready', help: 'Children accepting requests.', registers, collect() { this.set(counts().ready); } });
    new Gauge({ name: 'spawning_children_configured', help: 'Children (HTTP fronts) the controller keeps (--fronts, TTIN/TTOU).', registers, collect() { this.set(counts().configured); } });
    new Gauge({ name: 'spawning_requests_in_flight', help: 'Requests being served or waiting in a child.', registers, collect() { this.set(store.sum('inflight')); } });
    new Gauge({ name: 'spawning_request_queue_length', help: 'Requests waiting in a child for a worker.', registers, collect() { this.set(store.sum('queued')); } });
    new Gauge({
      name: 'spawning_process_resident_memory_bytes',
      help: 'Resident memory of each process (controller, child, Python worker).',
      labelNames: ['role', 'slot', 'pid'],
      registers,
      collect() {
        this.reset();
        this.set({ role: 'controller', slot: '', pid: String(process.pid) }, process.memoryUsage.rss());
        for (const c of store.children.values()) {
          if (!c.stats) continue;
          this.set({ role: 'child', slot: String(c.slot), pid: String(c.pid) }, c.stats.rss - c.stats.workerRss);
          for (const w of c.stats.workers) this.set({ role: 'worker', slot: String(c.slot), pid: String(w.pid) }, w.rss);
        }
      },
    });
    const counter = (name: string, help: string, value: () => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(value()); } });
    };
    counter('spawning_requests_shed_total', 'Requests answered 503 because the queue was full (--max-queue).', () => store.total('shed'));
    counter('spawning_requests_timed_out_total', 'Requests answered 504 after --timeout.', () => store.total('timedOut'));
    counter('spawning_queue_waits_total', 'Requests that waited in a child for a worker slot.', () => store.total('queueWaited'));
    counter('spawning_queue_wait_seconds_total', 'Time those requests waited, in total.', () => store.total('queueWaitMs') / 1000);
    counter('spawning_balance_closed_total', 'Keep-alive connections a child closed because it held more than its share.', () => store.total('balanceClosed'));
    counter('spawning_balance_redirected_total', 'New connections a child sent, unread, to a child short of its share.', () => store.total('balanceRedirected'));
    new Counter({
      name: 'spawning_client_errors_total',
      help: 'Requests the fronts refused before the app saw them (kind 400, 408, 431, 505) and connections reset mid-request (kind reset).',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(store.clientErrors())) this.inc({ kind }, n);
      },
    });
    new Gauge({ name: 'spawning_connections_open', help: 'Client connections open in all children.', registers, collect() { this.set(store.sum('connections')); } });
    counter('spawning_reloads_total', 'Reloads committed (a new generation serving).', () => store.counts.reloads);
    counter('spawning_reload_failures_total', 'Reloads abandoned because the new code could not load.', () => store.counts.reloadFailures);
    counter('spawning_worker_crashes_total', 'Python workers that died while serving.', () => store.counts.workerCrashes);
    counter('spawning_child_crashes_total', 'Children that exited without being told to.', () => store.counts.childCrashes);
    new Counter({
      name: 'spawning_evictions_total',
      help: 'Children replaced by --max-memory or --max-age.',
      labelNames: ['cause'],
      registers,
      collect() {
        this.reset();
        this.inc({ cause: 'memory' }, store.counts.evictionsMemory);
        this.inc({ cause: 'age' }, store.counts.evictionsAge);
      },
    });
  }

  async render(): Promise<string> {
    const store = this.store;
    if (store.retiredMetrics.length > RETIRED_COMPACT_AT) {
      const summed = await AggregatorRegistry.aggregate(store.retiredMetrics as never[]).getMetricsAsJSON();
      store.retiredMetrics = [summed as unknown as MetricJson[]];
    }
    const live = [...store.children.values()].flatMap((c) => (c.stats ? [c.stats.metrics] : []));
    const children = AggregatorRegistry.aggregate([...store.retiredMetrics, ...live] as never[]) as Registry;
    return Registry.merge([this.registry, children]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
