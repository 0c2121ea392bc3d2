/**
 * Every setting, declared once (as gunicorn's config.py does): the parser,
 * `--help` and the README's flag reference are all generated from this table.
 */
import { parseMemorySize, parseSize } from './size.js';

export interface Settings {
  host: string;
  port: number;
  bind: string | null;
  processes: number;
  threads: number;
  green: 'gevent' | 'eventlet';
  maxGreen: number;
  maxQueue: number;
  timeout: number;
  factory: string;
  python: string | null;
  reload: string | null;
  watch: string[];
  accessLogFile: string;
  coverage: boolean;
  maxMemory: number | null;
  maxAge: number | null;
  statusPort: number | null;
  statusHost: string;
  deadmanTimeout: number;
  pidfile: string | null;
  chuid: string | null;
  noKeepalive: boolean;
  keepaliveTimeout: number;
  backlog: number;
  maxHeaderSize: number;
  maxBodySize: number;
  headersTimeout: number;
  help: boolean;
  version: boolean;
}

export interface Setting<K extends keyof Settings = keyof Settings> {
  key: K;
  flags: string[];
  /** Placeholder in help; absent for on/off flags. */
  meta?: string;
  section: 'Server' | 'Application' | 'Lifecycle' | 'Logging' | 'HTTP' | 'Status' | 'Process' | 'Info';
  default: Settings[K];
  describe: string;
  /** Turns the raw text into the value; throws a plain Error with the reason. */
  parse?: (raw: string, previous: Settings[K]) => Settings[K];
  /** Declared for compatibility; not implemented by this version yet. */
  unavailable?: boolean;
}

const integer =
  (min: number, max: number) =>
  (raw: string): number => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`expected a whole number, got '${raw}'`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`expected a number from ${min} to ${max}, got ${n}`);
    return n;
  };

const seconds = (raw: string): number => {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`expected a number of seconds, got '${raw}'`);
  return n;
};

const text = (raw: string): string => {
  if (raw === '') throw new Error('expected a value');
  return raw;
};

function def<K extends keyof Settings>(s: Setting<K>): Setting<K> {
  return s;
}

export const SETTINGS: readonly Setting[] = [
  def({ key: 'host', flags: ['--host'], meta: 'HOST', section: 'Server', default: '0.0.0.0', describe: 'Interface to listen on.', parse: text }),
  def({ key: 'port', flags: ['--port'], meta: 'PORT', section: 'Server', default: 8080, describe: 'Port to listen on; 0 picks a free port and prints it.', parse: integer(0, 65535) }),
  def({
    key: 'bind',
    flags: ['--bind'],
    meta: 'ADDRESS',
    section: 'Server',
    default: null,
    describe: 'Listen on `unix:/path/to.sock` or `HOST:PORT` (overrides --host/--port).',
    parse: (raw) => {
      if (raw.startsWith('unix:')) {
        if (raw.length === 5) throw new Error("a Unix socket needs a path, as in 'unix:/run/app.sock'");
        return raw;
      }
      if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d+$/.test(raw)) throw new Error(`expected unix:PATH or HOST:PORT, got '${raw}'`);
      integer(0, 65535)(raw.slice(raw.lastIndexOf(':') + 1));
      return raw;
    },
  }),
  def({ key: 'processes', flags: ['--processes'], meta: 'N', section: 'Server', default: 4, describe: 'Number of child processes.', parse: integer(1, 1024) }),
  def({
    key: 'threads',
    flags: ['--threads'],
    meta: 'N',
    section: 'Server',
    default: 4,
    describe: 'Threads per Python worker (1 runs requests inline; 0 = green threads: each request in its own greenlet).',
    parse: integer(0, 4096),
  }),
  def({
    key: 'green',
    flags: ['--green'],
    meta: 'LIB',
    section: 'Server',
    default: 'gevent',
    describe: "Green-thread library for --threads=0: 'gevent' or 'eventlet' (must be installed in the app's interpreter).",
    parse: (raw) => {
      if (raw !== 'gevent' && raw !== 'eventlet') throw new Error(`expected gevent or eventlet, got '${raw}'`);
      return raw;
    },
  }),
  def({ key: 'maxGreen', flags: ['--max-green'], meta: 'N', section: 'Server', default: 1000, describe: 'With --threads=0: requests one worker runs at once.', parse: integer(1, 100_000) }),
  def({
    key: 'maxQueue',
    flags: ['--max-queue'],
    meta: 'N',
    section: 'Server',
    default: 1024,
    describe: 'Requests a child holds while its worker is busy (or restarting); beyond, 503 with Retry-After.',
    parse: integer(0, 1_000_000),
  }),
  def({
    key: 'timeout',
    flags: ['--timeout'],
    meta: 'SECONDS',
    section: 'Server',
    default: 0,
    describe: "A request running longer is answered 504 and its worker replaced gracefully; 0 = off.",
    parse: seconds,
  }),
  def({ key: 'factory', flags: ['--factory'], meta: 'DOTTED', section: 'Application', default: 'spawning.wsgi_factory.config_factory', describe: 'Python callable that builds the app config from the arguments.', parse: text }),
  def({ key: 'python', flags: ['--python'], meta: 'PATH', section: 'Application', default: null, describe: 'Python interpreter for the workers (default: $VIRTUAL_ENV/bin/python, else ./.venv/bin/python, else python3).', parse: text }),
  def({ key: 'reload', flags: ['--reload'], meta: 'MODE', section: 'Lifecycle', default: null, describe: "'dev': reload gracefully when a watched or imported file changes.", parse: (raw) => { if (raw !== 'dev') throw new Error(`the only reload mode is 'dev', got '${raw}'`); return raw; } }),
  def({ key: 'watch', flags: ['--watch'], meta: 'FILE', section: 'Lifecycle', default: [], describe: 'Also reload when FILE changes (repeatable).', parse: (raw, prev) => [...prev, text(raw)] }),
  def({ key: 'maxMemory', flags: ['-m', '--max-memory'], meta: 'SIZE', section: 'Lifecycle', default: null, describe: 'Replace children while the total RSS exceeds SIZE (512M, 1G; a plain number is megabytes).', parse: parseMemorySize }),
  def({ key: 'maxAge', flags: ['-a', '--max-age'], meta: 'SECONDS', section: 'Lifecycle', default: null, describe: 'Replace a child older than SECONDS.', parse: seconds }),
  def({ key: 'deadmanTimeout', flags: ['--deadman-timeout'], meta: 'SECONDS', section: 'Lifecycle', default: 10, describe: 'How long a draining child may finish its requests before it is killed.', parse: seconds }),
  def({ key: 'accessLogFile', flags: ['-l', '--access-log-file'], meta: 'FILE', section: 'Logging', default: '-', describe: "Access log (Apache combined + duration); '-' is stdout, /dev/null discards.", parse: text }),
  def({ key: 'coverage', flags: ['-c', '--coverage'], section: 'Application', default: false, describe: 'Measure coverage in every worker; report at /_coverage.', unavailable: true }),
  def({ key: 'noKeepalive', flags: ['--no-keepalive'], section: 'HTTP', default: false, describe: 'Close the connection after every response.' }),
  def({ key: 'keepaliveTimeout', flags: ['--keepalive-timeout'], meta: 'SECONDS', section: 'HTTP', default: 5, describe: 'Close keep-alive connections idle this long.', parse: seconds }),
  def({ key: 'headersTimeout', flags: ['--headers-timeout'], meta: 'SECONDS', section: 'HTTP', default: 30, describe: 'Time a client has to send the complete request headers.', parse: seconds }),
  def({ key: 'maxHeaderSize', flags: ['--max-header-size'], meta: 'SIZE', section: 'HTTP', default: 16384, describe: 'Largest request head accepted (431 beyond).', parse: (raw) => parseSize(raw) }),
  def({ key: 'maxBodySize', flags: ['--max-body-size'], meta: 'SIZE', section: 'HTTP', default: 0, describe: 'Largest request body accepted (413 beyond); 0 = unlimited.', parse: (raw) => parseSize(raw) }),
  def({ key: 'backlog', flags: ['--backlog'], meta: 'N', section: 'Server', default: 2048, describe: 'listen(2) backlog: connections the kernel queues while children are busy or restarting.', parse: integer(1, 65535) }),
  def({ key: 'statusPort', flags: ['--status-port'], meta: 'PORT', section: 'Status', default: null, describe: 'Serve /status and /status.json on this port.', unavailable: true, parse: integer(1, 65535) }),
  def({ key: 'statusHost', flags: ['--status-host'], meta: 'HOST', section: 'Status', default: '127.0.0.1', describe: 'Interface of the status service.', unavailable: true, parse: text }),
  def({ key: 'pidfile', flags: ['--pidfile'], meta: 'FILE', section: 'Process', default: null, describe: "Write the controller's pid to FILE (removed on exit).", parse: text }),
  def({ key: 'chuid', flags: ['--chuid'], meta: 'USER[:GROUP]', section: 'Process', default: null, describe: 'Run as USER (and GROUP) after binding the socket.', parse: text }),
  def({ key: 'help', flags: ['-h', '--help'], section: 'Info', default: false, describe: 'Show this help and exit.' }),
  def({ key: 'version', flags: ['-V', '--version'], section: 'Info', default: false, describe: 'Print the version and exit.' }),
] as Setting[];

export function defaults(): Settings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = Array.isArray(s.default) ? [...s.default] : s.default;
  return out as unknown as Settings;
}

