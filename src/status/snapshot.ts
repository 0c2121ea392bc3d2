/**
 * The body of GET /status.json (and what the page draws). Field by field in
 * README.md "Status service"; the seed's names are kept where it had them.
 */
import type { StateValue } from 'xstate';
import { leafStates } from '../../machines/diagram.js';
import type { ChildRecord } from '../../machines/controller.js';
import type { Health } from '../../machines/status.js';
import type { HistoryPoint, StatusEvent, StatusStore } from './status-store.js';

export interface ControllerInfo {
  pid: number;
  version: string;
  /** Milliseconds since the epoch. */
  startedAt: number;
  url: string;
  host: string;
  port: number;
  processes: number;
  threads: number;
  /** The settings as given (snake_case keys). */
  config: Record<string, unknown>;
}

export interface MachineStates {
  controller: StateValue;
  reloader: StateValue | null;
  status: StateValue;
}

export interface ControllerView {
  records: readonly ChildRecord[];
  /** Children (HTTP fronts) the controller keeps, and the Python workers they run between them. */
  fronts: number;
  workers: number;
  generation: number;
  machines: MachineStates;
  health: Health;
}

export interface ChildJson {
  id: number;
  slot: number;
  pid: number;
  worker_pid: number | null;
  generation: number;
  /** The controller's view: starting, ready, draining. */
  state: string;
  /** The child's own machine state, as it last reported it. */
  machine_state: string | null;
  responsive: boolean;
  started_at: string;
  uptime: number;
  requests: number;
  concurrent_requests: number;
  queued_requests: number;
  requests_per_second: number;
  rss_bytes: number;
  worker_rss_bytes: number;
  /** Each Python worker of the child. */
  workers: { pid: number; rss_bytes: number }[];
  connections: number;
  shed: number;
  timed_out: number;
  /** Requests its front refused and connections reset mid-request, by kind (`400`, `408`, `431`, `505`, `reset`). */
  client_errors: Record<string, number>;
  /** Longest wait of a request for a worker slot since the child's previous report. */
  queue_max_wait_ms: number;
  /** Seconds since the child last reported; null before its first report. */
  last_report_age: number | null;
}

export interface StatusJson {
  pid: number;
  version: string;
  started_at: string;
  uptime: number;
  url: string;
  host: string;
  port: number;
  health: Health;
  generation: number;
  /** Python worker processes, and the children (HTTP fronts) that run them. */
  processes: number;
  fronts: number;
  threads: number;
  active_children_count: number;
  configured_children_count: number;
  concurrent_requests: number;
  queued_requests: number;
  requests_total: number;
  requests_per_second: number;
  /** Answered 503 for a full queue, and 504 after --timeout, since start. */
  shed_total: number;
  timed_out_total: number;
  /** Mean wait for a worker slot of the requests that had to wait, ms. */
  queue_wait_mean_ms: number;
  connections: number;
  /** Keep-alive connections closed because a child held more than its share, and new connections sent to a child short of its share, since start. */
  balance_closed_total: number;
  balance_redirected_total: number;
  responses: Record<string, number>;
  /** Requests the fronts refused (never seen by the app) and connections reset mid-request, by kind, since start. */
  client_errors: Record<string, number>;
  rss_bytes: number;
  counts: StatusStore['counts'];
  children: ChildJson[];
  machines: Record<keyof MachineStates, string[] | null>;
  config: Record<string, unknown>;
  events: (Omit<StatusEvent, 'at'> & { at: string })[];
  history: HistoryPoint[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const round = (n: number, places = 2): number => Math.round(n * 10 ** places) / 10 ** places;

export function buildStatus(store: StatusStore, info: ControllerInfo, view: ControllerView, now = Date.now()): StatusJson {
  const children: ChildJson[] = [];
  for (const record of view.records) {
    const entry = store.children.get(record.id);
    if (!entry) continue;
    const stats = entry.stats;
    const perSecond = store.rate(entry);
    children.push({
      id: record.id,
      slot: record.slot,
      pid: entry.pid,
      worker_pid: stats?.workerPid ?? null,
      generation: record.generation,
      state: record.state,
      machine_state: stats?.state ?? null,
      responsive: store.responsive(entry),
      started_at: iso(entry.startedAt),
      uptime: round((now - entry.startedAt) / 1000, 1),
      requests: stats?.requests ?? 0,
      concurrent_requests: stats?.inflight ?? 0,
      queued_requests: stats?.queued ?? 0,
      requests_per_second: round(perSecond, 1),
      rss_bytes: stats?.rss ?? 0,
      worker_rss_bytes: stats?.workerRss ?? 0,
      workers: (stats?.workers ?? []).map((w) => ({ pid: w.pid, rss_bytes: w.rss })),
      connections: stats?.connections ?? 0,
      shed: stats?.shed ?? 0,
      timed_out: stats?.timedOut ?? 0,
      client_errors: { ...(stats?.clientErrors ?? {}) },
      queue_max_wait_ms: stats?.queueMaxWaitMs ?? 0,
      last_report_age: entry.statsAt === 0 ? null : round((now - entry.statsAt) / 1000, 1),
    });
  }
  children.sort((a, b) => a.slot - b.slot || a.id - b.id);
  return {
    pid: info.pid,
    version: info.version,
    started_at: iso(info.startedAt),
    uptime: round((now - info.startedAt) / 1000, 1),
    url: info.url,
    host: info.host,
    port: info.port,
    health: view.health,
    generation: view.generation,
    processes: view.workers,
    fronts: view.fronts,
    threads: info.threads,
    active_children_count: view.records.filter((r) => r.state === 'ready').length,
    configured_children_count: view.fronts,
    concurrent_requests: store.sum('inflight'),
    queued_requests: store.sum('queued'),
    requests_total: store.totalRequests,
    requests_per_second: round(store.totalRate(), 1),
    shed_total: store.total('shed'),
    timed_out_total: store.total('timedOut'),
    queue_wait_mean_ms: store.total('queueWaited') === 0 ? 0 : round(store.total('queueWaitMs') / store.total('queueWaited'), 1),
    connections: store.sum('connections'),
    balance_closed_total: store.total('balanceClosed'),
    balance_redirected_total: store.total('balanceRedirected'),
    responses: store.responses(),
    client_errors: store.clientErrors(),
    rss_bytes: process.memoryUsage.rss() + store.sum('rss'),
    counts: { ...store.counts },
    children,
    machines: {
      controller: leafStates(view.machines.controller),
      reloader: view.machines.reloader === null ? null : leafStates(view.machines.reloader),
      status: leafStates(view.machines.status),
    },
    config: info.config,
    events: store.events.map((e) => ({ ...e, at: iso(e.at) })),
    history: store.history,
  };
}
