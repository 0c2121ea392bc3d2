/**
 * Every setting, declared once (as gunicorn's config.py does): the parser,
 * `--help` and the README's flag reference are all generated from this table.
 */
import { compileAccessLogFormat } from '../http/access-log-format.js';
import { checkAllowEntry } from '../http/forwarded.js';
import { parseMemorySize, parseSize } from './size.js';

export interface Settings {
  host: string;
  port: number;
  bind: string | null;
  processes: number;
  fronts: number | null;
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
  accessLogFormat: string | null;
  coverage: boolean;
  maxMemory: number | null;
  maxAge: number | null;
  statusPort: number | null;
  statusHost: string;
  inspect: string | null;
  deadmanTimeout: number;
  pidfile: string | null;
  chuid: string | null;
  daemonize: boolean;
  stdout: string | null;
  stderr: string | null;
  noKeepalive: boolean;
  keepaliveTimeout: number;
  backlog: number;
  maxHeaderSize: number;
  maxBodySize: number;
  headersTimeout: number;
  nats: string[];
  fleet: string;
  nodeName: string | null;
  natsCreds: string | null;
  natsToken: string | null;
  natsUser: string | null;
  natsPassword: string | null;
  natsTlsCa: string | null;
  natsTlsCert: string | null;
  natsTlsKey: string | null;
  fleetTtl: number;
  json: boolean;
  batch: number;
  wait: number;
  grace: number;
  forwardedAllowIps: string[];
  scriptName: string | null;
  help: boolean;
  version: boolean;
}

export interface Setting<K extends keyof Settings = keyof Settings> {
  key: K;
  flags: string[];
  /** Placeholder in help; absent for on/off flags. */
  meta?: string;
  section: 'Server' | 'Application' | 'Lifecycle' | 'Logging' | 'HTTP' | 'Status' | 'Process' | 'Fleet' | 'Fleet commands' | 'Info';
  /** Where the flag applies: the server (default), `spawning fleet ...` only, or both. */
  scope?: 'server' | 'fleet' | 'both';
  default: Settings[K];
  describe: string;
  /** Turns the raw text into the value; throws a plain Error with the reason. */
  parse?: (raw: string, previous: Settings[K]) => Settings[K];
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

const fleetName = (raw: string): string => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw new Error(`expected letters, digits, '-' or '_' (at most 64), got '${raw}'`);
  return raw;
};

const natsUrls = (raw: string): string[] => {
  const urls = raw.split(',').map((u) => u.trim());
  for (const u of urls) {
    if (!/^((nats|tls|wss?):\/\/)?[^\s/,]+(:\d+)?\/?$/.test(u)) throw new Error(`expected nats://HOST:PORT[,nats://HOST:PORT...], got '${u}'`);
  }
  return urls;
};

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
  def({ key: 'processes', flags: ['--processes'], meta: 'N', section: 'Server', default: 4, describe: 'Number of Python worker processes.', parse: integer(1, 1024) }),
  def({ key: 'fronts', flags: ['--fronts'], meta: 'N', section: 'Server', default: null, describe: 'Node HTTP front processes sharing the Python workers (default: one per two workers, at most one per two cores).', parse: integer(1, 1024) }),
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
  def({
    key: 'accessLogFormat',
    flags: ['--access-log-format'],
    meta: 'FORMAT',
    section: 'Logging',
    default: null,
    describe: "Access log line in gunicorn's atoms, e.g. '%(h)s \"%(r)s\" %(s)s %(b)s %(L)s' (default: Apache combined + duration).",
    parse: (raw) => {
      compileAccessLogFormat(raw);
      return raw;
    },
  }),
  def({ key: 'coverage', flags: ['-c', '--coverage'], section: 'Application', default: false, describe: 'Measure coverage.py coverage in every worker; /_coverage serves the combined HTML report (?format=json: JSON). Needs the coverage package.' }),
  def({ key: 'noKeepalive', flags: ['--no-keepalive'], section: 'HTTP', default: false, describe: 'Close the connection after every response.' }),
  def({ key: 'keepaliveTimeout', flags: ['--keepalive-timeout'], meta: 'SECONDS', section: 'HTTP', default: 5, describe: 'Close keep-alive connections idle this long.', parse: seconds }),
  def({ key: 'headersTimeout', flags: ['--headers-timeout'], meta: 'SECONDS', section: 'HTTP', default: 30, describe: 'Time a client has to send the complete request headers.', parse: seconds }),
  def({ key: 'maxHeaderSize', flags: ['--max-header-size'], meta: 'SIZE', section: 'HTTP', default: 16384, describe: 'Largest request head accepted (431 beyond).', parse: (raw) => parseSize(raw) }),
  def({ key: 'maxBodySize', flags: ['--max-body-size'], meta: 'SIZE', section: 'HTTP', default: 0, describe: 'Largest request body accepted (413 beyond); 0 = unlimited.', parse: (raw) => parseSize(raw) }),
  def({
    key: 'forwardedAllowIps',
    flags: ['--forwarded-allow-ips'],
    meta: 'IPS',
    section: 'HTTP',
    default: ['127.0.0.1'],
    describe: "Comma-separated proxy addresses or networks (10.0.0.0/8) whose X-Forwarded-For, X-Forwarded-Proto and Forwarded headers set REMOTE_ADDR and wsgi.url_scheme; '*' trusts every peer.",
    parse: (raw) => {
      const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
      entries.forEach(checkAllowEntry);
      return entries;
    },
  }),
  def({
    key: 'scriptName',
    flags: ['--script-name'],
    meta: 'PREFIX',
    section: 'HTTP',
    default: null,
    describe: 'Mount the app under PREFIX: SCRIPT_NAME is PREFIX and PATH_INFO the rest of the path.',
    parse: (raw) => {
      if (!raw.startsWith('/')) throw new Error(`expected a path starting with '/', got '${raw}'`);
      return raw.replace(/\/+$/, '');
    },
  }),
  def({ key: 'backlog', flags: ['--backlog'], meta: 'N', section: 'Server', default: 2048, describe: 'listen(2) backlog: connections the kernel queues while children are busy or restarting.', parse: integer(1, 65535) }),
  def({ key: 'statusPort', flags: ['--status-port'], meta: 'PORT', section: 'Status', default: null, describe: 'Serve /status (live page), /status.json, /metrics (Prometheus) and /healthz on this port (0: any free port).', parse: integer(0, 65535) }),
  def({ key: 'statusHost', flags: ['--status-host'], meta: 'HOST', section: 'Status', default: '127.0.0.1', describe: 'Interface of the status service (status data is not for the public).', parse: text }),
  def({ key: 'inspect', flags: ['--inspect'], meta: 'URL', section: 'Status', default: null, describe: 'Stream every state machine\'s events to an xstate inspector WebSocket (ws://…).', parse: (raw) => { if (!/^wss?:\/\/[^/]/.test(raw)) throw new Error(`expected a ws:// or wss:// URL, got '${raw}'`); return raw; } }),
  def({ key: 'pidfile', flags: ['--pidfile'], meta: 'FILE', section: 'Process', default: null, describe: "Write the controller's pid to FILE (removed on exit).", parse: text }),
  def({ key: 'chuid', flags: ['--chuid'], meta: 'USER[:GROUP]', section: 'Process', default: null, describe: 'Run as USER (and GROUP) after binding the socket.', parse: text }),
  def({ key: 'nats', flags: ['--nats'], meta: 'URL[,URL]', section: 'Fleet', scope: 'both', default: [], describe: 'Join a fleet through these NATS servers (JetStream enabled); see "Running a fleet".', parse: natsUrls }),
  def({ key: 'fleet', flags: ['--fleet'], meta: 'NAME', section: 'Fleet', scope: 'both', default: 'default', describe: 'Name of the fleet (its registry bucket is `spawning-NAME`).', parse: fleetName }),
  def({ key: 'nodeName', flags: ['--node-name'], meta: 'NAME', section: 'Fleet', default: null, describe: "This controller's name in the fleet (default: the hostname, '.' and other characters made '-').", parse: fleetName }),
  def({ key: 'natsCreds', flags: ['--nats-creds'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: 'NATS credentials file (JWT and NKey seed).', parse: text }),
  def({ key: 'natsToken', flags: ['--nats-token'], meta: 'TOKEN', section: 'Fleet', scope: 'both', default: null, describe: 'NATS token.', parse: text }),
  def({ key: 'natsUser', flags: ['--nats-user'], meta: 'USER', section: 'Fleet', scope: 'both', default: null, describe: 'NATS user (with --nats-password).', parse: text }),
  def({ key: 'natsPassword', flags: ['--nats-password'], meta: 'PASSWORD', section: 'Fleet', scope: 'both', default: null, describe: 'NATS password.', parse: text }),
  def({ key: 'natsTlsCa', flags: ['--nats-tls-ca'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: "CA certificate to verify the NATS server's TLS certificate.", parse: text }),
  def({ key: 'natsTlsCert', flags: ['--nats-tls-cert'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: 'Client certificate for NATS TLS (with --nats-tls-key).', parse: text }),
  def({ key: 'natsTlsKey', flags: ['--nats-tls-key'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: 'Private key of --nats-tls-cert.', parse: text }),
  def({ key: 'fleetTtl', flags: ['--fleet-ttl'], meta: 'SECONDS', section: 'Fleet', default: 15, describe: "A node that stops heartbeating drops out of the registry after SECONDS (fixed when the fleet's bucket is created).", parse: (raw) => { const n = seconds(raw); if (n < 1) throw new Error(`expected at least 1 second, got ${n}`); return n; } }),
  def({ key: 'json', flags: ['--json'], section: 'Fleet commands', scope: 'fleet', default: false, describe: '`fleet status`: print JSON instead of a table.' }),
  def({ key: 'batch', flags: ['--batch'], meta: 'N', section: 'Fleet commands', scope: 'fleet', default: 1, describe: '`fleet reload`: hosts reloaded at once (the first batch is the canary).', parse: integer(1, 1000) }),
  def({ key: 'wait', flags: ['--wait'], meta: 'SECONDS', section: 'Fleet commands', scope: 'fleet', default: 120, describe: "`fleet reload`/`drain`: how long to wait for each host's answer.", parse: seconds }),
  def({ key: 'grace', flags: ['--grace'], meta: 'SECONDS', section: 'Fleet commands', scope: 'fleet', default: 10, describe: '`fleet drain`: /healthz answers 503 this long before the host stops accepting.', parse: seconds }),
  def({ key: 'daemonize', flags: ['-d', '--daemonize'], section: 'Process', default: false, describe: 'Run in the background; the command returns once the server is ready (or fails with its error).' }),
  def({ key: 'stdout', flags: ['--stdout'], meta: 'FILE', section: 'Process', default: null, describe: "With --daemonize: append the server's and the app's standard output to FILE (default: discarded); SIGUSR1 reopens it.", parse: text }),
  def({ key: 'stderr', flags: ['--stderr'], meta: 'FILE', section: 'Process', default: null, describe: 'With --daemonize: append standard error (log lines, tracebacks) to FILE (default: discarded); SIGUSR1 reopens it.', parse: text }),
  def({ key: 'help', flags: ['-h', '--help'], section: 'Info', scope: 'both', default: false, describe: 'Show this help and exit.' }),
  def({ key: 'version', flags: ['-V', '--version'], section: 'Info', default: false, describe: 'Print the version and exit.' }),
] as Setting[];

export function defaults(): Settings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = Array.isArray(s.default) ? [...s.default] : s.default;
  return out as unknown as Settings;
}

