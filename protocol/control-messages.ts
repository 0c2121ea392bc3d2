/** Messages of the control channel (controller ↔ child). See PROTOCOL.md. */
// The one import from outside protocol/, and a type only: a child's start config carries the
// flags tagged for it in the settings table, so its type is derived from that table, not restated.
import type { SettingsTo } from '../src/config/settings.js';
import type { LoadError, ModuleFile, WorkerInfo } from './worker-messages.js';

/** The PEM texts a child serves with; sent in its config and in `tls` messages. */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** --ca-certs: the CAs client certificates are verified against. */
  ca: string | null;
  /** Of the leaf certificate, for the log line that says which one serves. */
  serial: string;
}

/**
 * What the controller works out for a child rather than passing a flag on as
 * given: the bound address, the resolved interpreter and paths, its timing.
 */
export interface ChildDerived {
  /** Positional arguments: app then middleware (or the factory's own args). */
  args: string[];
  /** The interpreter --python resolved to. */
  python: string;
  /** Address as users see it, for SERVER_NAME/SERVER_PORT: as bound, so port 0 is the port picked. */
  host: string;
  port: number;
  /** Set when serving a Unix socket. */
  unixPath: string | null;
  /** Listening sockets the child inherits, from fd 4 on (more than one only when systemd hands several). */
  listenFds: number;
  /** Not --no-keepalive. */
  keepalive: boolean;
  /** --access-log-file resolved: a file path, "-" for stdout, "/dev/null" to discard. */
  accessLog: string;
  /** Milliseconds between `stats` messages. */
  statsInterval: number;
  /** Extra Python path entries (the worker package's directory first). */
  pythonPath: string[];
  /** --coverage: where the workers write their coverage data (null: off). */
  coverageDir: string | null;
  /** Mount point of the app (SCRIPT_NAME); '' for the root. */
  scriptName: string;
  /** Python workers this child runs: its share of --processes (the controller sets it per slot). */
  workers: number;
  /** --certfile/--keyfile/--ca-certs as read by the controller (null: cleartext); `tls` messages replace it. */
  tls: TlsMaterial | null;
  /**
   * Other fronts serve beside this one, or are starting to: from its first
   * connection it holds those it has no room for unread, for a front with a
   * free thread (connection-handoff.ts); `peers` messages update it.
   */
  peers: boolean;
}

/**
 * Everything a child needs to serve; sent in the `start` message. The flags
 * are those the settings table tags for the child or for its worker (which
 * the child starts), under their table names; the rest is derived.
 */
export type ChildConfig = Omit<SettingsTo<'child' | 'worker'>, keyof ChildDerived> & ChildDerived;

export type ToChild =
  | { t: 'start'; config: ChildConfig; generation: number; slot: number }
  | { t: 'drain' }
  | { t: 'reopen-logs' }
  /** A reload read the TLS files again: new connections get this certificate. */
  | { t: 'tls'; material: TlsMaterial }
  /** Reply to `stats`: how many of the connections it reported the child should keep, and how many new ones to redirect to a child short of its share (connection-balance.ts). */
  | { t: 'balance'; keep: number; redirect: number }
  /** --max-memory/--max-age: replace worker `pid` (start another, then retire this one); `worker-evicted` answers. */
  | { t: 'evict-worker'; pid: number; reason: 'memory' | 'age' };

/**
 * How an eviction ended: `replaced` (the new worker serves, the old one retires);
 * `failed` (the replacement exited before READY: the app may not fit, which the
 * eviction policy's back-off counts); `refused` (no replacement was tried to the
 * end: the child was not serving, the worker was not one of its serving ones,
 * or the child drained or lost another worker meanwhile).
 */
export type EvictionOutcome = 'replaced' | 'failed' | 'refused';

/** What a Python worker is doing in its child: taking requests, loading the app to replace one, or finishing its last requests. */
export type WorkerRole = 'serving' | 'starting' | 'retiring';

/** One prom-client metric as `Registry.getMetricsAsJSON()` gives it (counters and histograms only). */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string; exemplar?: null }[];
}

/** Pushed every `statsInterval` ms and whenever the child's machine changes state. */
export interface ChildStats {
  /** Responses sent since the child started. */
  requests: number;
  /** Requests being served or waiting for a worker. */
  inflight: number;
  /** Of those, the ones waiting in the child for a worker. */
  queued: number;
  /** The first of its Python workers (null while none runs). */
  workerPid: number | null;
  /** Bytes: the child and its Python workers. */
  rss: number;
  /** Bytes: its Python workers alone. */
  workerRss: number;
  /** Each Python worker, whatever its role. */
  workers: { pid: number; rss: number; role: WorkerRole }[];
  /** The child machine's state (leaf path, `_`-joined: `serving`, `restartingWorker`). */
  state: string;
  /** Responses by status class ('1xx' … '5xx'). */
  responses: Record<string, number>;
  /** The child's request counters and duration histogram (summed by the controller). */
  metrics: MetricJson[];
  /** Open client connections. */
  connections: number;
  /** Requests that had to wait for a slot, since the child started. */
  queueWaited: number;
  /** Milliseconds they waited in total, since the child started. */
  queueWaitMs: number;
  /** Longest wait since the previous stats message. */
  queueMaxWaitMs: number;
  /** Answered 503 because the queue was full, since the child started. */
  shed: number;
  /** Answered 504 after --timeout, since the child started. */
  timedOut: number;
  /** Keep-alive connections closed because the child held more than its share, since it started (connection-balance.ts). */
  balanceClosed: number;
  /** New connections sent to a child short of its share, since the child started. */
  balanceRedirected: number;
  /** Requests the front refused (`400`, `408`, `431`, `505`) and connections reset mid-request (`reset`), since the child started. */
  clientErrors: Record<string, number>;
}

export type FromChild =
  | { t: 'ready'; pid: number; workerPid: number; info: WorkerInfo }
  | { t: 'load-error'; error: LoadError }
  | { t: 'worker-exit'; pid: number; code: number | null; signal: string | null; inflight: number }
  | ({ t: 'stats' } & ChildStats)
  | { t: 'draining'; inflight: number }
  | { t: 'modules'; files: ModuleFile[] }
  /** Answers `evict-worker` (see EvictionOutcome); `newPid` is 0 unless `replaced`. */
  | { t: 'worker-evicted'; oldPid: number; newPid: number; outcome: EvictionOutcome };
