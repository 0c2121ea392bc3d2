/** Messages of the control channel (controller ↔ child). See PROTOCOL.md. */
import type { LoadError, WorkerInfo } from './worker-messages.js';

/** Everything a child needs to serve; sent in the `start` message. */
export interface ChildConfig {
  /** Positional arguments: app then middleware (or the factory's own args). */
  args: string[];
  factory: string;
  python: string;
  /** 0: green threads (see `green`, `maxGreen`). */
  threads: number;
  green: 'gevent' | 'eventlet';
  /** Requests one green worker runs at once. */
  maxGreen: number;
  /** Requests the child holds while its worker runs all it can (503 beyond). */
  maxQueue: number;
  /** Seconds a request may run before 504 and a graceful worker replacement; 0 = off. */
  timeout: number;
  /** Python worker processes of the whole server, --processes (for wsgi.multiprocess). */
  processes: number;
  /** Python workers this child runs: its share of --processes. */
  workers: number;
  /** listen(2) backlog for the inherited socket. */
  backlog: number;
  /** Address as users see it, for SERVER_NAME/SERVER_PORT. */
  host: string;
  port: number;
  /** Set when serving a Unix socket. */
  unixPath: string | null;
  keepalive: boolean;
  /** Seconds an idle keep-alive connection is kept. */
  keepaliveTimeout: number;
  /** Seconds to receive the complete request headers. */
  headersTimeout: number;
  maxHeaderSize: number;
  /** Bytes; 0 = unlimited. */
  maxBodySize: number;
  /** File path, "-" for stdout, "/dev/null" to discard. */
  accessLog: string;
  /** Seconds a draining child waits for in-flight requests before exiting. */
  deadmanTimeout: number;
  /** Milliseconds between `stats` messages. */
  statsInterval: number;
  /** 'dev': the worker reports the files of imported modules. */
  reload: string | null;
  /** Extra Python path entries (the worker package's directory first). */
  pythonPath: string[];
  /** --inspect: the xstate inspector WebSocket the child streams its machine's events to. */
  inspect: string | null;
  /** --coverage: where the workers write their coverage data (null: off). */
  coverageDir: string | null;
  /** Peers whose X-Forwarded-For/-Proto and Forwarded headers are applied ('*': all). */
  forwardedAllowIps: string[];
  /** Mount point of the app (SCRIPT_NAME); '' for the root. */
  scriptName: string;
  /** gunicorn-style access log format; null for the default (combined + duration). */
  accessLogFormat: string | null;
}

export type ToChild =
  | { t: 'start'; config: ChildConfig; generation: number; slot: number }
  | { t: 'drain' }
  | { t: 'reopen-logs' }
  /** Reply to `stats`: how many of the connections it reported the child should keep. */
  | { t: 'balance'; share: number };

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
  /** Each Python worker, whatever its role (current, replacement, retiring). */
  workers: { pid: number; rss: number }[];
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
}

export type FromChild =
  | { t: 'ready'; pid: number; workerPid: number; info: WorkerInfo }
  | { t: 'load-error'; error: LoadError }
  | { t: 'worker-exit'; pid: number; code: number | null; signal: string | null; inflight: number }
  | ({ t: 'stats' } & ChildStats)
  | { t: 'draining'; inflight: number }
  | { t: 'modules'; files: string[] };
