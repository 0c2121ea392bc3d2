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
  /** Number of children the controller runs (for wsgi.multiprocess). */
  processes: number;
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
}

export type ToChild =
  | { t: 'start'; config: ChildConfig; generation: number; slot: number }
  | { t: 'drain' }
  | { t: 'reopen-logs' }
  /** Reply to `stats`: how many of the connections it reported the child should keep. */
  | { t: 'balance'; share: number };

export interface ChildStats {
  requests: number;
  inflight: number;
  workerPid: number | null;
  rss: number;
  /** Open client connections. */
  connections: number;
  /** Requests waiting in the child for a free worker slot now (--max-queue). */
  queued: number;
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
