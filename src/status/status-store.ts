/**
 * What the status service knows, kept in the controller from what children
 * push and what the controller itself does. Every status request is answered
 * from here, never by asking a child: a child that stops reporting is shown as
 * unresponsive rather than making the page wait.
 */
import type { ChildRecord } from '../../machines/controller.js';
import type { ChildStats, MetricJson } from '../../protocol/control-messages.js';
import { STATUS_CLASSES } from './request-metrics.js';

/** One point of the charts; `HISTORY_POINTS` of them cover the last ten minutes. */
export interface HistoryPoint {
  /** Milliseconds since the epoch. */
  t: number;
  rps: number;
  rss: number;
  inflight: number;
  ready: number;
}

export const HISTORY_STEP_MS = 2000;
export const HISTORY_POINTS = 300;
const MAX_EVENTS = 100;
/** Requests/s of a child: over this window of its reports. */
const RATE_WINDOW_MS = 5000;

export type StatusEventKind =
  | 'started'
  | 'child-crashed'
  | 'worker-crashed'
  | 'reload-started'
  | 'reloaded'
  | 'reload-failed'
  | 'eviction'
  | 'scaled'
  | 'stopping';

export interface StatusEvent {
  /** Milliseconds since the epoch. */
  at: number;
  kind: StatusEventKind;
  message: string;
  /** A traceback, for failed reloads and crashes that have one. */
  detail?: string;
  /** The numbers behind an eviction (bytes, seconds). */
  figures?: Record<string, number>;
}

/** Cumulative per-child counters that the store keeps summed across children that exited. */
export type ChildCounter = 'shed' | 'timedOut' | 'queueWaited' | 'queueWaitMs' | 'balanceClosed' | 'balanceRedirected';
const CHILD_COUNTERS: readonly ChildCounter[] = ['shed', 'timedOut', 'queueWaited', 'queueWaitMs', 'balanceClosed', 'balanceRedirected'];

export interface ChildEntry {
  id: number;
  slot: number;
  generation: number;
  pid: number;
  startedAt: number;
  readyAt: number | null;
  stats: ChildStats | null;
  /** When the last stats arrived (ms since the epoch); 0 before the first. */
  statsAt: number;
  /** (time, requests) of the reports in the rate window. */
  samples: [number, number][];
}

export class StatusStore {
  readonly children = new Map<number, ChildEntry>();
  readonly events: StatusEvent[] = [];
  readonly history: HistoryPoint[] = [];
  /** Counters of children that exited, kept so totals never go backwards. */
  retiredRequests = 0;
  readonly retiredResponses: Record<string, number> = Object.fromEntries(STATUS_CLASSES.map((c) => [c, 0]));
  retiredMetrics: MetricJson[][] = [];
  readonly retiredCounters: Record<ChildCounter, number> = { shed: 0, timedOut: 0, queueWaited: 0, queueWaitMs: 0, balanceClosed: 0, balanceRedirected: 0 };
  readonly retiredClientErrors: Record<string, number> = {};
  readonly counts = { reloads: 0, reloadFailures: 0, evictionsMemory: 0, evictionsAge: 0, workerCrashes: 0, childCrashes: 0 };
  #lastTotal = 0;
  #lastSampleAt = 0;

  constructor(
    /** ms after which a child that has not reported is unresponsive. */
    readonly silentAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(kind: StatusEventKind, message: string, extra: Pick<StatusEvent, 'detail' | 'figures'> = {}): void {
    this.events.push({ at: this.now(), kind, message, ...extra });
    if (this.events.length > MAX_EVENTS) this.events.shift();
  }

  childSpawned(id: number, slot: number, generation: number, pid: number): void {
    this.children.set(id, { id, slot, generation, pid, startedAt: this.now(), readyAt: null, stats: null, statsAt: 0, samples: [] });
  }

  childReady(id: number): void {
    const child = this.children.get(id);
    if (child) child.readyAt = this.now();
  }

  childStats(id: number, stats: ChildStats): void {
    const child = this.children.get(id);
    if (!child) return;
    const now = this.now();
    child.stats = stats;
    child.statsAt = now;
    child.samples.push([now, stats.requests]);
    while (child.samples.length > 2 && now - child.samples[0]![0] > RATE_WINDOW_MS) child.samples.shift();
  }

  childExited(id: number): void {
    const child = this.children.get(id);
    if (!child) return;
    this.children.delete(id);
    if (!child.stats) return;
    this.retiredRequests += child.stats.requests;
    for (const name of CHILD_COUNTERS) this.retiredCounters[name] += child.stats[name];
    for (const [cls, n] of Object.entries(child.stats.responses)) this.retiredResponses[cls] = (this.retiredResponses[cls] ?? 0) + n;
    for (const [kind, n] of Object.entries(child.stats.clientErrors ?? {})) this.retiredClientErrors[kind] = (this.retiredClientErrors[kind] ?? 0) + n;
    this.retiredMetrics.push(child.stats.metrics);
  }

  workerCrashed(id: number, pid: number, how: string, failed: number): void {
    this.counts.workerCrashes++;
    const child = this.children.get(id);
    this.record('worker-crashed', `Python worker ${pid} of child ${child?.pid ?? '?'} exited (${how}); ${failed} request(s) answered 502; restarted`);
  }

  rate(child: ChildEntry): number {
    const first = child.samples[0];
    const last = child.samples[child.samples.length - 1];
    if (!first || !last || last[0] === first[0]) return 0;
    return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
  }

  /** Requests/s of all children, each over its rate window. */
  totalRate(): number {
    let sum = 0;
    for (const c of this.children.values()) sum += this.rate(c);
    return sum;
  }

  responsive(child: ChildEntry): boolean {
    return this.now() - (child.statsAt || child.startedAt) <= this.silentAfterMs;
  }

  get totalRequests(): number {
    let n = this.retiredRequests;
    for (const c of this.children.values()) n += c.stats?.requests ?? 0;
    return n;
  }

  responses(): Record<string, number> {
    const out = { ...this.retiredResponses };
    for (const c of this.children.values()) for (const [cls, n] of Object.entries(c.stats?.responses ?? {})) out[cls] = (out[cls] ?? 0) + n;
    return out;
  }

  /** Refused requests and mid-request resets by kind, over every child, exited ones included. */
  clientErrors(): Record<string, number> {
    const out = { ...this.retiredClientErrors };
    for (const c of this.children.values()) for (const [kind, n] of Object.entries(c.stats?.clientErrors ?? {})) out[kind] = (out[kind] ?? 0) + n;
    return out;
  }

  /** A cumulative counter over every child, exited ones included. */
  total(name: ChildCounter): number {
    let n = this.retiredCounters[name];
    for (const c of this.children.values()) n += c.stats?.[name] ?? 0;
    return n;
  }

  sum(field: 'inflight' | 'queued' | 'rss' | 'connections'): number {
    let n = 0;
    for (const c of this.children.values()) n += c.stats?.[field] ?? 0;
    return n;
  }

  /** Adds a chart point; called every HISTORY_STEP_MS. */
  sample(controllerRss: number, records: readonly ChildRecord[]): void {
    const now = this.now();
    const total = this.totalRequests;
    const seconds = this.#lastSampleAt === 0 ? 0 : (now - this.#lastSampleAt) / 1000;
    const rps = seconds > 0 ? Math.max(0, total - this.#lastTotal) / seconds : 0;
    this.#lastTotal = total;
    this.#lastSampleAt = now;
    this.history.push({ t: now, rps, rss: controllerRss + this.sum('rss'), inflight: this.sum('inflight'), ready: records.filter((r) => r.state === 'ready').length });
    if (this.history.length > HISTORY_POINTS) this.history.shift();
  }

}
