/**
 * Every setting, declared once (as gunicorn's config.py does): the parser,
 * `--help` and the README's flag reference are all generated from this table,
 * the `Settings` type is inferred from it, and each row's `to` decides which
 * processes receive its value (src/config/process-config.ts).
 */
import { compileAccessLogFormat } from '../http/access-log-format.js';
import { checkAllowEntry } from '../http/forwarded.js';
import { checkOtelEndpoint } from '../http/tracing.js';
import { parseMemorySize, parseSize } from './size.js';

/** Where a setting is sent besides the controller, which parses every one: the children, the Python workers (`--options-json`). */
export type Destination = 'child' | 'worker';

type Section = 'Server' | 'Application' | 'Lifecycle' | 'Logging' | 'HTTP' | 'TLS' | 'Status' | 'Process' | 'Fleet' | 'Fleet commands' | 'Configuration' | 'Info';

/** The values a setting can take; primitives in the constraint keep a row's literal types ('gevent' | 'eventlet') from widening. */
type Value = string | number | boolean | null | readonly string[];

interface Row<K extends string, V, D extends Destination> {
  key: K;
  flags: readonly string[];
  /** Placeholder in help; absent for on/off flags. */
  meta?: string;
  section: Section;
  /** Where the flag applies: the server (default), `spawning fleet ...` only, or both. */
  scope?: 'server' | 'fleet' | 'both';
  default: V;
  describe: string;
  /**
   * Turns the raw text into the value; throws a plain Error with the reason.
   * A method, not a property, so that a row of any value type is a `Setting`.
   */
  parse?(raw: string, previous: V): V;
  /** The processes the value is sent to as given (see `sentTo`); absent: the controller's alone. */
  to?: readonly D[];
  /** Given several times, the values add up (--watch); in a config file, an array; in the environment, comma-separated. */
  repeatable?: boolean;
  /** Only on the command line: not a config file key nor a SPAWNING_* variable (--help, --config itself). */
  cliOnly?: boolean;
}

/** A row, typed by its parser and its default: `string | null` for a text flag whose default is null. */
function row<const K extends string, V extends Value, const D extends Destination = never>(r: Row<K, V, D>): Row<K, V, D> {
  return r;
}

/** An on/off flag: false unless given. */
function onOff<const K extends string, const D extends Destination = never>(r: Omit<Row<K, boolean, D>, 'default' | 'parse' | 'meta' | 'repeatable'>): Row<K, boolean, D> {
  return { ...r, default: false };
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

const oneOf =
  <const T extends string>(...values: T[]) =>
  (raw: string): T => {
    if (!(values as string[]).includes(raw)) throw new Error(`expected ${values.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got '${raw}'`);
    return raw as T;
  };

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

const TABLE = [
  row({ key: 'host', to: ['worker'], flags: ['--host'], meta: 'HOST', section: 'Server', default: '0.0.0.0', describe: 'Interface to listen on.', parse: text }),
  row({ key: 'port', to: ['worker'], flags: ['--port'], meta: 'PORT', section: 'Server', default: 8080, describe: 'Port to listen on; 0 picks a free port and prints it.', parse: integer(0, 65535) }),
  row({
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
  row({ key: 'processes', to: ['worker'], flags: ['--processes'], meta: 'N', section: 'Server', default: 4, describe: 'Number of Python worker processes.', parse: integer(1, 1024) }),
  row({ key: 'fronts', flags: ['--fronts'], meta: 'N', section: 'Server', default: null, describe: 'Node HTTP front processes sharing the Python workers (default: one per two workers, at most one per core).', parse: integer(1, 1024) }),
  row({
    key: 'threads',
    to: ['child', 'worker'],
    flags: ['--threads'],
    meta: 'N',
    section: 'Server',
    default: 4,
    describe: 'Threads per Python worker (1 runs requests inline; 0 = green threads: each request in its own greenlet).',
    parse: integer(0, 4096),
  }),
  row({
    key: 'green',
    to: ['worker'],
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
  row({ key: 'maxGreen', to: ['child', 'worker'], flags: ['--max-green'], meta: 'N', section: 'Server', default: 1000, describe: 'With --threads=0: requests one worker runs at once.', parse: integer(1, 100_000) }),
  row({
    key: 'maxQueue',
    to: ['child'],
    flags: ['--max-queue'],
    meta: 'N',
    section: 'Server',
    default: 1024,
    describe: 'Requests a child holds while its worker is busy (or restarting); beyond, 503 with Retry-After.',
    parse: integer(0, 1_000_000),
  }),
  row({
    key: 'timeout',
    to: ['child'],
    flags: ['--timeout'],
    meta: 'SECONDS',
    section: 'Server',
    default: 0,
    describe: "A request running longer is answered 504 and its worker replaced gracefully; 0 = off.",
    parse: seconds,
  }),
  row({ key: 'factory', to: ['child', 'worker'], flags: ['--factory'], meta: 'DOTTED', section: 'Application', default: 'spawning.wsgi_factory.config_factory', describe: 'Python callable that builds the app config from the arguments.', parse: text }),
  row({ key: 'python', flags: ['--python'], meta: 'PATH', section: 'Application', default: null, describe: 'Python interpreter for the workers (default: $VIRTUAL_ENV/bin/python, else ./.venv/bin/python, else python3).', parse: text }),
  row({ key: 'reload', to: ['worker'], flags: ['--reload'], meta: 'MODE', section: 'Lifecycle', default: null, describe: "'dev': reload gracefully when a watched or imported file changes.", parse: (raw) => { if (raw !== 'dev') throw new Error(`the only reload mode is 'dev', got '${raw}'`); return raw; } }),
  row({ key: 'watch', flags: ['--watch'], meta: 'FILE', section: 'Lifecycle', default: [], repeatable: true, describe: 'Also reload when FILE changes (repeatable).', parse: (raw: string, prev: string[]) => [...prev, text(raw)] }),
  row({ key: 'maxMemory', flags: ['-m', '--max-memory'], meta: 'SIZE', section: 'Lifecycle', default: null, describe: 'Replace Python workers while the total RSS exceeds SIZE (512M, 1G; a plain number is megabytes).', parse: parseMemorySize }),
  row({ key: 'maxAge', flags: ['-a', '--max-age'], meta: 'SECONDS', section: 'Lifecycle', default: null, describe: 'Replace a Python worker older than SECONDS.', parse: seconds }),
  row({ key: 'deadmanTimeout', to: ['child'], flags: ['--deadman-timeout'], meta: 'SECONDS', section: 'Lifecycle', default: 10, describe: 'How long a draining child may finish its requests before it is killed.', parse: seconds }),
  row({ key: 'accessLogFile', flags: ['-l', '--access-log-file'], meta: 'FILE', section: 'Logging', default: '-', describe: "Access log (Apache combined + duration); '-' is stdout, /dev/null discards.", parse: text }),
  row({
    key: 'accessLogFormat',
    to: ['child'],
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
  row({
    key: 'otelEndpoint',
    to: ['child'],
    flags: ['--otel-endpoint'],
    meta: 'URL',
    section: 'Logging',
    default: null,
    describe:
      "OpenTelemetry: export a server span per request over OTLP/HTTP to URL (a collector's base URL such as http://localhost:4318 gets /v1/traces). A W3C traceparent continues its trace, and the app sees the span's own in HTTP_TRACEPARENT. Batched off the request path; OTEL_SERVICE_NAME and the other OTEL_* variables apply.",
    parse: checkOtelEndpoint,
  }),
  row({
    key: 'errorLogInterval',
    to: ['child'],
    flags: ['--error-log-interval'],
    meta: 'SECONDS',
    section: 'Logging',
    default: 10,
    describe: 'Refused requests (400, 408, 431, 505) and mid-request resets: the first 5 of each kind are logged in full, then one line per kind every SECONDS sums them up (all are counted in /status.json and /metrics); 0 logs every one.',
    parse: seconds,
  }),
  onOff({ key: 'coverage', to: ['worker'], flags: ['-c', '--coverage'], section: 'Application', describe: 'Measure coverage.py coverage in every worker; /_coverage serves the combined HTML report (?format=json: JSON). Needs the coverage package.' }),
  onOff({ key: 'noKeepalive', flags: ['--no-keepalive'], section: 'HTTP', describe: 'Close the connection after every response.' }),
  row({ key: 'keepaliveTimeout', to: ['child'], flags: ['--keepalive-timeout'], meta: 'SECONDS', section: 'HTTP', default: 5, describe: 'Close keep-alive connections idle this long.', parse: seconds }),
  row({ key: 'headersTimeout', to: ['child'], flags: ['--headers-timeout'], meta: 'SECONDS', section: 'HTTP', default: 30, describe: 'Time a client has to send the complete request headers.', parse: seconds }),
  row({ key: 'maxHeaderSize', to: ['child'], flags: ['--max-header-size'], meta: 'SIZE', section: 'HTTP', default: 16384, describe: 'Largest request head accepted (431 beyond).', parse: (raw) => parseSize(raw) }),
  row({ key: 'maxBodySize', to: ['child'], flags: ['--max-body-size'], meta: 'SIZE', section: 'HTTP', default: 0, describe: 'Largest request body accepted (413 beyond); 0 = unlimited.', parse: (raw) => parseSize(raw) }),
  row({
    key: 'forwardedAllowIps',
    to: ['child'],
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
  onOff({
    key: 'proxyProtocol',
    to: ['child'],
    flags: ['--proxy-protocol'],
    section: 'HTTP',
    describe:
      "Read a PROXY protocol header (v1 or v2, as HAProxy and AWS NLB send) at the start of each connection from a --forwarded-allow-ips peer: its client address becomes REMOTE_ADDR and REMOTE_PORT. A header from any other peer, or a malformed one, closes the connection; a connection without one is served as it is.",
  }),
  row({
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
  row({
    key: 'http2',
    to: ['child'],
    flags: ['--http2'],
    meta: 'MODE',
    section: 'HTTP',
    default: 'on',
    describe: "With TLS: 'on' offers HTTP/2 through ALPN beside HTTP/1.1, 'off' offers HTTP/1.1 alone.",
    parse: oneOf('on', 'off'),
  }),
  onOff({
    key: 'h2c',
    to: ['child'],
    flags: ['--h2c'],
    section: 'HTTP',
    describe: 'Also take cleartext HTTP/2 with prior knowledge (a proxy such as Envoy or nginx grpc_pass in front); off by default, see "TLS and HTTP/2".',
  }),
  row({ key: 'certfile', flags: ['--certfile'], meta: 'FILE', section: 'TLS', default: null, describe: 'Serve HTTPS with this PEM certificate (its chain after it); needs --keyfile. SIGHUP and every reload read it again.', parse: text }),
  row({ key: 'keyfile', flags: ['--keyfile'], meta: 'FILE', section: 'TLS', default: null, describe: 'PEM private key of --certfile.', parse: text }),
  row({ key: 'caCerts', flags: ['--ca-certs'], meta: 'FILE', section: 'TLS', default: null, describe: 'PEM CA certificates that client certificates must chain to (for --cert-reqs).', parse: text }),
  row({
    key: 'certReqs',
    to: ['child'],
    flags: ['--cert-reqs'],
    meta: 'MODE',
    section: 'TLS',
    default: 'none',
    describe: "Client certificates: 'none' (not asked for), 'optional' (asked for; one that does not verify is refused), 'required' (no certificate, no connection).",
    parse: oneOf('none', 'optional', 'required'),
  }),
  row({
    key: 'sslMinVersion',
    to: ['child'],
    flags: ['--ssl-min-version'],
    meta: 'VERSION',
    section: 'TLS',
    default: 'TLSv1.2',
    describe: "Oldest TLS version accepted: 'TLSv1.2' or 'TLSv1.3'.",
    parse: (raw) => oneOf('TLSv1.2', 'TLSv1.3')(raw.replace(/^(?:tls)?v?(1\.[23])$/i, 'TLSv$1')),
  }),
  row({ key: 'ciphers', to: ['child'], flags: ['--ciphers'], meta: 'LIST', section: 'TLS', default: null, describe: "OpenSSL cipher list for TLS 1.2 (TLS 1.3's suites are OpenSSL's own); default: Node's.", parse: text }),
  row({ key: 'backlog', to: ['child'], flags: ['--backlog'], meta: 'N', section: 'Server', default: 2048, describe: 'listen(2) backlog: connections the kernel queues while children are busy or restarting.', parse: integer(1, 65535) }),
  row({ key: 'statusPort', flags: ['--status-port'], meta: 'PORT', section: 'Status', default: null, describe: 'Serve /status (live page), /status.json, /metrics (Prometheus) and /healthz on this port (0: any free port).', parse: integer(0, 65535) }),
  row({ key: 'statusHost', flags: ['--status-host'], meta: 'HOST', section: 'Status', default: '127.0.0.1', describe: 'Interface of the status service (status data is not for the public).', parse: text }),
  row({ key: 'inspect', to: ['child'], flags: ['--inspect'], meta: 'URL', section: 'Status', default: null, describe: 'Stream every state machine\'s events to an xstate inspector WebSocket (ws://…).', parse: (raw) => { if (!/^wss?:\/\/[^/]/.test(raw)) throw new Error(`expected a ws:// or wss:// URL, got '${raw}'`); return raw; } }),
  row({ key: 'pidfile', flags: ['--pidfile'], meta: 'FILE', section: 'Process', default: null, describe: "Write the controller's pid to FILE (removed on exit).", parse: text }),
  row({ key: 'chuid', flags: ['--chuid'], meta: 'USER[:GROUP]', section: 'Process', default: null, describe: 'Run as USER (and GROUP) after binding the socket.', parse: text }),
  row({ key: 'nats', flags: ['--nats'], meta: 'URL[,URL]', section: 'Fleet', scope: 'both', default: [], describe: 'Join a fleet through these NATS servers (JetStream enabled); see "Running a fleet".', parse: natsUrls }),
  row({ key: 'fleet', flags: ['--fleet'], meta: 'NAME', section: 'Fleet', scope: 'both', default: 'default', describe: 'Name of the fleet (its registry bucket is `spawning-NAME`).', parse: fleetName }),
  row({ key: 'nodeName', flags: ['--node-name'], meta: 'NAME', section: 'Fleet', default: null, describe: "This controller's name in the fleet (default: the hostname, '.' and other characters made '-').", parse: fleetName }),
  row({ key: 'natsCreds', flags: ['--nats-creds'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: 'NATS credentials file (JWT and NKey seed).', parse: text }),
  row({ key: 'natsToken', flags: ['--nats-token'], meta: 'TOKEN', section: 'Fleet', scope: 'both', default: null, describe: 'NATS token.', parse: text }),
  row({ key: 'natsUser', flags: ['--nats-user'], meta: 'USER', section: 'Fleet', scope: 'both', default: null, describe: 'NATS user (with --nats-password).', parse: text }),
  row({ key: 'natsPassword', flags: ['--nats-password'], meta: 'PASSWORD', section: 'Fleet', scope: 'both', default: null, describe: 'NATS password.', parse: text }),
  row({ key: 'natsTlsCa', flags: ['--nats-tls-ca'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: "CA certificate to verify the NATS server's TLS certificate.", parse: text }),
  row({ key: 'natsTlsCert', flags: ['--nats-tls-cert'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: 'Client certificate for NATS TLS (with --nats-tls-key).', parse: text }),
  row({ key: 'natsTlsKey', flags: ['--nats-tls-key'], meta: 'FILE', section: 'Fleet', scope: 'both', default: null, describe: 'Private key of --nats-tls-cert.', parse: text }),
  row({ key: 'fleetTtl', flags: ['--fleet-ttl'], meta: 'SECONDS', section: 'Fleet', default: 15, describe: "A node that stops heartbeating drops out of the registry after SECONDS (fixed when the fleet's bucket is created).", parse: (raw) => { const n = seconds(raw); if (n < 1) throw new Error(`expected at least 1 second, got ${n}`); return n; } }),
  row({ key: 'fleetReplicas', flags: ['--fleet-replicas'], meta: 'N', section: 'Fleet', default: 1, describe: "Copies of the fleet's registry bucket kept by a NATS cluster (3 for a 3-node cluster, so losing one node loses nothing; fixed when the bucket is created).", parse: integer(1, 5) }),
  onOff({ key: 'json', flags: ['--json'], section: 'Fleet commands', scope: 'fleet', describe: '`fleet status`: print JSON instead of a table.' }),
  row({ key: 'batch', flags: ['--batch'], meta: 'N', section: 'Fleet commands', scope: 'fleet', default: 1, describe: '`fleet reload`: hosts reloaded at once (the first batch is the canary).', parse: integer(1, 1000) }),
  row({ key: 'wait', flags: ['--wait'], meta: 'SECONDS', section: 'Fleet commands', scope: 'fleet', default: 120, describe: "`fleet reload`/`drain`: how long to wait for each host's answer.", parse: seconds }),
  row({ key: 'grace', flags: ['--grace'], meta: 'SECONDS', section: 'Fleet commands', scope: 'fleet', default: 10, describe: '`fleet drain`: /healthz answers 503 this long before the host stops accepting.', parse: seconds }),
  onOff({ key: 'daemonize', flags: ['-d', '--daemonize'], section: 'Process', describe: 'Run in the background; the command returns once the server is ready (or fails with its error).' }),
  row({ key: 'stdout', flags: ['--stdout'], meta: 'FILE', section: 'Process', default: null, describe: "With --daemonize: append the server's and the app's standard output to FILE (default: discarded); SIGUSR1 reopens it.", parse: text }),
  row({ key: 'stderr', flags: ['--stderr'], meta: 'FILE', section: 'Process', default: null, describe: 'With --daemonize: append standard error (log lines, tracebacks) to FILE (default: discarded); SIGUSR1 reopens it.', parse: text }),
  row({
    key: 'config',
    flags: ['--config'],
    meta: 'FILE',
    section: 'Configuration',
    default: null,
    cliOnly: true,
    describe: 'Read settings from this TOML file (keys are the long flag names, plus `app`); the command line, then SPAWNING_* variables, override it. Also $SPAWNING_CONFIG.',
    parse: text,
  }),
  onOff({ key: 'checkConfig', flags: ['--check-config'], section: 'Configuration', cliOnly: true, describe: 'Validate the settings and import the app through the factory, then exit: 0 good, 2 configuration, 3 the app cannot load.' }),
  onOff({ key: 'printConfig', flags: ['--print-config'], section: 'Configuration', cliOnly: true, describe: 'Print the effective settings and where each came from (default, file, environment, command line), then exit.' }),
  onOff({ key: 'help', flags: ['-h', '--help'], section: 'Info', scope: 'both', cliOnly: true, describe: 'Show this help and exit.' }),
  onOff({ key: 'version', flags: ['-V', '--version'], section: 'Info', cliOnly: true, describe: 'Print the version and exit.' }),
] as const;

type AnyRow = (typeof TABLE)[number];

/** The value of every setting, typed from its row: no second list of the keys. */
export type Settings = { -readonly [R in AnyRow as R['key']]: R['default'] };

/** Any row of the table, for code that walks all of them (parser, help, reference). */
export type Setting = Row<keyof Settings, unknown, Destination>;

export const SETTINGS: readonly Setting[] = TABLE;

/** The keys of the rows tagged with `D` (with a union, tagged with any of them). */
type KeysTo<D extends Destination> = AnyRow extends infer R ? (R extends Row<infer K, unknown, infer T> ? (D extends T ? K : never) : never) : never;

/** The settings a process is sent as given. */
export type SettingsTo<D extends Destination> = Pick<Settings, KeysTo<D>>;

/** Picks the settings tagged with any of `to` from `source`: the one place a process's share of the flags is chosen. */
export function sentTo<D extends Destination>(source: SettingsTo<D>, ...to: D[]): SettingsTo<D> {
  const values = source as Partial<Record<keyof Settings, unknown>>;
  const picked: Partial<Record<keyof Settings, unknown>> = {};
  for (const s of SETTINGS) if (s.to?.some((d) => (to as Destination[]).includes(d))) picked[s.key] = values[s.key];
  return picked as SettingsTo<D>;
}

export function defaults(): Settings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = Array.isArray(s.default) ? [...s.default] : s.default;
  return out as unknown as Settings;
}

