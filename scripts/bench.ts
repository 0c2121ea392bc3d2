/**
 * The benchmark suite (`scripts/bench`, which installs the peers and raises
 * the open-file limit first): spawning against gunicorn, uWSGI (pyuwsgi,
 * --http-socket), waitress and Granian, plus a bare Node http server as the
 * ceiling, all serving the same app at the same process count (examples/bench.py's
 * bytes, or the real apps examples/bench_flask.py and bench_django.py), loaded
 * by the same wrk (HTTP/2 scenarios: h2load, many streams on few connections,
 * against Granian's HTTP/2, over TLS with a certificate made for the run and
 * over cleartext with prior knowledge). Runs alternate between servers so the
 * machine's drift hits them all alike; the table shows medians. Not a test.
 *
 *   node dist/scripts/bench.js [--processes 1,2] [--duration 5] [--repeats 3]
 *        [--scenarios hello,10k,echo,flask,django,file10m,longpoll,longpoll-2000,longpoll-2s,idle,close,https,h2-tls,h2c] [--servers spawning,gunicorn,…]
 *        [--write BENCHMARKS.md]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, processTree, treeCpu } from './bench-lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const BENCH_VENV = path.join(ROOT, '.venv-bench', 'bin');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Mode = 'sync' | 'green' | 'idle' | 'tls' | 'h2-tls' | 'h2c';

/** Modes whose servers speak TLS (with the certificate made for the run). */
const TLS_MODES: readonly Mode[] = ['tls', 'h2-tls'];
/** Modes loaded by h2load instead of wrk. */
const H2_MODES: readonly Mode[] = ['h2-tls', 'h2c'];

interface Scenario {
  key: string;
  title: string;
  path: string;
  connections: number;
  mode: Mode;
  /** The module in examples/ whose `app` every server serves. */
  app: 'bench' | 'bench_flask' | 'bench_django';
  /** wrk's -s script (Lua), or extra headers. */
  lua?: string;
  headers?: string[];
  /** h2load: streams in flight per connection. */
  streams?: number;
}

const SCENARIOS: Scenario[] = [
  { key: 'hello', title: 'hello world (13 bytes), keep-alive, 50 connections', path: '/', connections: 50, mode: 'sync', app: 'bench' },
  { key: '10k', title: '10 KB response, keep-alive, 50 connections', path: '/10k', connections: 50, mode: 'sync', app: 'bench' },
  {
    key: 'echo',
    title: 'POST echo of 64 KB, keep-alive, 50 connections',
    path: '/echo',
    connections: 50,
    mode: 'sync',
    app: 'bench',
    lua: 'wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\nwrk.headers["Content-Type"] = "application/octet-stream"\n',
  },
  { key: 'flask', title: 'Flask JSON endpoint reading one sqlite row, keep-alive, 50 connections', path: '/item/42', connections: 50, mode: 'sync', app: 'bench_flask' },
  { key: 'django', title: 'Django template page with a database query (20 rows), keep-alive, 50 connections', path: '/items/?start=100', connections: 50, mode: 'sync', app: 'bench_django' },
  // CPU µs/req is the CPU per 10 MB response here (all of a server's processes).
  { key: 'file10m', title: '10 MB file download (wsgi.file_wrapper), keep-alive, 10 connections', path: '/file10m', connections: 10, mode: 'sync', app: 'bench' },
  { key: 'longpoll', title: 'long-poll: each request waits 10 ms, 512 connections', path: '/sleep', connections: 512, mode: 'green', app: 'bench' },
  { key: 'longpoll-2000', title: 'long-poll: each request waits 10 ms, 2,000 connections', path: '/sleep', connections: 2000, mode: 'green', app: 'bench' },
  { key: 'longpoll-2s', title: 'long-poll: each request waits 2 s, 2,000 connections', path: '/sleep?ms=2000', connections: 2000, mode: 'green', app: 'bench' },
  { key: 'idle', title: '10,000 idle keep-alive connections: total RSS', path: '/', connections: 10_000, mode: 'idle', app: 'bench' },
  { key: 'close', title: 'no keep-alive (a new connection per request), 50 connections', path: '/', connections: 50, mode: 'sync', app: 'bench', headers: ['Connection: close'] },
  { key: 'https', title: 'HTTPS (HTTP/1.1 over TLS 1.3), hello world, keep-alive, 50 connections', path: '/', connections: 50, mode: 'tls', app: 'bench' },
  { key: 'h2-tls', title: 'HTTP/2 over TLS (ALPN h2), hello world, 4 connections × 32 streams', path: '/', connections: 4, streams: 32, mode: 'h2-tls', app: 'bench' },
  { key: 'h2c', title: 'HTTP/2 cleartext (prior knowledge), hello world, 4 connections × 32 streams', path: '/', connections: 4, streams: 32, mode: 'h2c', app: 'bench' },
];

/** The certificate the TLS scenarios serve, made by main() for the run (key in PKCS#8, which Granian requires). */
const TLS = { cert: '', key: '' };

interface Launch {
  cmd: string;
  args: string[];
  cwd: string;
}

interface Server {
  key: string;
  label: (mode: Mode) => string;
  /** The command line, or why this server sits the scenario out. */
  launch: (port: number, processes: number, mode: Mode, app: string) => Launch | { skip: string };
}

const KEEPALIVE_S = '60';

const SERVERS: Server[] = [
  {
    key: 'spawning',
    label: (mode) => (mode === 'green' ? 'spawning --threads 0' : 'spawning --threads 4'),
    launch: (port, processes, mode, app) => ({
      cmd: process.execPath,
      args: [
        path.join(ROOT, 'bin', 'spawning.js'),
        ...['--host', '127.0.0.1', '--port', String(port), '--processes', String(processes), '-l', '/dev/null', '--python', PYTHON],
        ...(mode === 'green' ? ['--threads', '0', '--max-green', '2000'] : ['--threads', '4']),
        ...(TLS_MODES.includes(mode) ? ['--certfile', TLS.cert, '--keyfile', TLS.key] : mode === 'h2c' ? ['--h2c'] : []),
        ...['--keepalive-timeout', KEEPALIVE_S, '--backlog', '4096', `${app}.app`],
      ],
      cwd: EXAMPLES,
    }),
  },
  {
    key: 'gunicorn',
    label: (mode) => (mode === 'green' ? 'gunicorn gevent' : 'gunicorn sync'),
    launch: (port, processes, mode, app) => H2_MODES.includes(mode) ? { skip: "gunicorn's HTTP/2 is a beta for its asyncio workers; not compared" } : ({
      cmd: path.join(BENCH_VENV, 'gunicorn'),
      args: [
        ...['--bind', `127.0.0.1:${port}`, '--workers', String(processes), '--log-level', 'warning', '--backlog', '4096'],
        ...(mode === 'green' ? ['--worker-class', 'gevent', '--worker-connections', '20000', '--keep-alive', KEEPALIVE_S] : ['--worker-class', 'sync']),
        ...(mode === 'tls' ? ['--certfile', TLS.cert, '--keyfile', TLS.key] : []),
        `${app}:app`,
      ],
      cwd: EXAMPLES,
    }),
  },
  {
    key: 'uwsgi',
    label: () => 'uWSGI --http11-socket',
    launch: (port, processes, mode, app) =>
      mode === 'green'
        ? { skip: 'pyuwsgi ships no gevent plugin' }
        : mode !== 'sync'
          ? { skip: 'not compared over TLS or HTTP/2' }
        : {
            cmd: path.join(BENCH_VENV, 'uwsgi'),
            args: [
              ...['--http11-socket', `127.0.0.1:${port}`, '--master', '--processes', String(processes), '--threads', '4'],
              ...['--wsgi-file', `${app}.py`, '--callable', 'app', '--disable-logging', '--die-on-term', '--listen', '4096', '--max-fd', '65536'],
            ],
            cwd: EXAMPLES,
          },
  },
  {
    key: 'waitress',
    label: () => 'waitress',
    launch: (port, processes, mode, app) =>
      processes > 1
        ? { skip: 'waitress runs one process' }
        : mode !== 'sync'
          ? { skip: mode === 'green' ? 'waitress has no green mode' : 'waitress has no TLS or HTTP/2' }
          : {
              cmd: path.join(BENCH_VENV, 'waitress-serve'),
              args: ['--listen', `127.0.0.1:${port}`, '--threads', '4', '--connection-limit', '20000', '--backlog', '4096', `${app}:app`],
              cwd: EXAMPLES,
            },
  },
  {
    key: 'granian',
    label: (mode) => (mode === 'green' ? 'Granian wsgi, 256 blocking threads' : H2_MODES.includes(mode) ? 'Granian wsgi --http 2' : 'Granian wsgi'),
    launch: (port, processes, mode, app) => ({
      cmd: path.join(BENCH_VENV, 'granian'),
      args: [
        ...['--interface', 'wsgi', '--host', '127.0.0.1', '--port', String(port), '--workers', String(processes), '--no-log', '--backlog', '4096'],
        ...(mode === 'green' ? ['--blocking-threads', '256'] : []),
        ...(H2_MODES.includes(mode) ? ['--http', '2'] : []),
        ...(TLS_MODES.includes(mode) ? ['--ssl-certificate', TLS.cert, '--ssl-keyfile', TLS.key] : []),
        `${app}:app`,
      ],
      cwd: EXAMPLES,
    }),
  },
  {
    key: 'node',
    label: () => 'bare Node http (ceiling)',
    launch: (port, processes, mode, app) =>
      app !== 'bench'
        ? { skip: 'serves canned bytes, not a Python app' }
        : mode === 'sync' || mode === 'green' || mode === 'idle'
          ? { cmd: process.execPath, args: [path.join(ROOT, 'dist', 'scripts', 'bench-ceiling.js'), String(port), String(processes), KEEPALIVE_S], cwd: ROOT }
          : { skip: 'the ceiling is cleartext HTTP/1.1' },
  },
];

// ---- processes --------------------------------------------------------------

interface Running {
  server: Server;
  label: string;
  port: number;
  proc: ChildProcess;
  launch: Launch;
}

async function answers(port: number, urlPath: string, mode: Mode = 'sync'): Promise<boolean> {
  if (TLS_MODES.includes(mode) || mode === 'h2c') {
    // fetch takes neither a certificate made for the run nor HTTP/2: curl does.
    const how = mode === 'h2c' ? ['--http2-prior-knowledge', `http://127.0.0.1:${port}${urlPath}`] : ['-k', `https://127.0.0.1:${port}${urlPath}`];
    try {
      return execFileSync('curl', ['-s', '--max-time', '2', '-o', '/dev/null', '-w', '%{http_code}', ...how], { encoding: 'utf8' }) === '200';
    } catch {
      return false;
    }
  }
  try {
    const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Starts `server` on `app`, ready once `probe` answers 200. */
async function start(server: Server, processes: number, mode: Mode, app: Scenario['app'], probe: string, logDir: string): Promise<Running | { skip: string }> {
  const port = await freePort();
  const launch = server.launch(port, processes, mode, app);
  if ('skip' in launch) return launch;
  // A file, not a pipe: wrk runs synchronously, and a chatty server (waitress warns on every
  // queued task) would block on a full pipe nobody drains meanwhile.
  const log = path.join(logDir, `${server.key}-${mode}-${app}-${processes}.log`);
  const fd = openSync(log, 'w');
  const proc = spawn(launch.cmd, launch.args, { cwd: launch.cwd, stdio: ['ignore', 'ignore', fd], detached: true });
  closeSync(fd);
  const tail = (): string => readFileSync(log, 'utf8').trim().split('\n').slice(-2).join(' ');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) return { skip: `exited at start: ${tail()}` };
    if (await answers(port, probe, mode)) return { server, label: server.label(mode), port, proc, launch };
    await sleep(200);
  }
  stop(proc);
  return { skip: 'did not answer within 30 s' };
}

function stop(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  setTimeout(() => {
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 3000).unref();
}

/** Resident memory of a process and all its descendants. */
function treeRss(root: number): number {
  let bytes = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      bytes += m ? Number(m[1]) * 1024 : 0;
    } catch {
      // exited meanwhile
    }
  }
  return bytes;
}

type Role = 'controller' | 'front' | 'worker';

/** spawning's resident memory by role: the controller (the root), its Node fronts, its Python workers. */
function rssByRole(root: number): Record<Role, { count: number; bytes: number }> {
  const out: Record<Role, { count: number; bytes: number }> = { controller: { count: 0, bytes: 0 }, front: { count: 0, bytes: 0 }, worker: { count: 0, bytes: 0 } };
  for (const pid of processTree(root)) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const role: Role | null = pid === root ? 'controller' : cmdline.includes('spawning.worker') ? 'worker' : cmdline.includes('child.js') ? 'front' : null;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (role && m) {
        out[role].count++;
        out[role].bytes += Number(m[1]) * 1024;
      }
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function rolesTable(idle: ReturnType<typeof rssByRole>, loaded: ReturnType<typeof rssByRole>): string {
  const lines = ['| role | processes | RSS idle | RSS after the runs | per process after |', '|---|---:|---:|---:|---:|'];
  for (const role of ['controller', 'front', 'worker'] as const) {
    const { count, bytes } = loaded[role];
    lines.push(`| ${role} | ${count} | ${mib(idle[role].bytes)} | ${mib(bytes)} | ${count ? mib(bytes / count) : '–'} |`);
  }
  const total = (r: ReturnType<typeof rssByRole>): number => r.controller.bytes + r.front.bytes + r.worker.bytes;
  lines.push(`| total | | ${mib(total(idle))} | ${mib(total(loaded))} | |`);
  return lines.join('\n');
}

// ---- load ------------------------------------------------------------------

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The server's CPU time per request (all its processes), µs; NaN when unknown. */
  cpuUs: number;
  /** Resident memory of all the server's processes right after the run; NaN when unknown. */
  rss: number;
}

const toMs = (text: string): number => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
};

function wrk(port: number, scenario: Scenario, seconds: number, luaFile: string | null, serverPid?: number, tls = false): Sample {
  const args = ['-t2', `-c${scenario.connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s'];
  if (luaFile) args.push('-s', luaFile);
  for (const h of scenario.headers ?? []) args.push('-H', h);
  args.push(`${tls ? 'https' : 'http'}://127.0.0.1:${port}${scenario.path}`);
  const cpuBefore = serverPid === undefined ? NaN : treeCpu(serverPid).all;
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const cpu = serverPid === undefined ? NaN : treeCpu(serverPid).all - cpuBefore;
  if (!/Requests\/sec/.test(out) || / 0 requests in/.test(out)) process.stderr.write(`bench: wrk ${args.join(' ')} gave:\n${out}\n`);
  const field = (re: RegExp): string => re.exec(out)?.[1] ?? '0';
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(field(/Non-2xx or 3xx responses: (\d+)/)) + (socketErrors ? socketErrors.slice(1).reduce((n, v) => n + Number(v), 0) : 0);
  const requests = Number(field(/(\d+) requests in /));
  return {
    rps: Number(field(/Requests\/sec:\s+([\d.]+)/)),
    p50: toMs(field(/^\s+50%\s+(\S+)/m)),
    p99: toMs(field(/^\s+99%\s+(\S+)/m)),
    errors,
    cpuUs: requests > 0 ? (cpu * 1e6) / requests : NaN,
    rss: serverPid === undefined ? NaN : treeRss(serverPid),
  };
}

/** h2load's run of an HTTP/2 scenario: no percentiles (h2load gives min/max/mean/sd), so the mean stands in for p50. */
function h2load(port: number, scenario: Scenario, seconds: number, serverPid?: number): Sample {
  const url = `${scenario.mode === 'h2c' ? 'http' : 'https'}://127.0.0.1:${port}${scenario.path}`;
  const args = ['-t2', `-c${scenario.connections}`, `-m${scenario.streams ?? 1}`, `-D${seconds}`, '--warm-up-time=1', url];
  const cpuBefore = serverPid === undefined ? NaN : treeCpu(serverPid).all;
  const out = execFileSync('h2load', args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  const cpu = serverPid === undefined ? NaN : treeCpu(serverPid).all - cpuBefore;
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1];
  if (!done || rps === 0) process.stderr.write(`bench: h2load ${args.join(' ')} gave:\n${out}\n`);
  const requests = Number(done?.[1] ?? 0);
  const errors = Number(done?.[3] ?? 0) + Number(codes?.[3] ?? 0) + Number(codes?.[4] ?? 0);
  // The warm-up's requests are in h2load's counts too, and in the CPU measured: per request it holds.
  return { rps, p50: mean ? toMs(mean) : NaN, p99: NaN, errors, cpuUs: requests > 0 ? (cpu * 1e6) / requests : NaN, rss: serverPid === undefined ? NaN : treeRss(serverPid) };
}

interface IdleSample {
  held: number;
  baseRss: number;
  rss: number;
}

/**
 * Opens `count` keep-alive connections, one request on each, then measures the
 * server's RSS while they idle. A server that stops answering new connections
 * (one that ties a thread to each) ends the opening early: what it holds is the
 * result, not a wait for every socket to time out.
 */
async function idleConnections(running: Running, count: number): Promise<IdleSample> {
  const pid = running.proc.pid!;
  const baseRss = treeRss(pid);
  const sockets: net.Socket[] = [];
  const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  // 'kept' when the answer leaves the connection open; 'closing' when it says Connection: close
  // (spawning's connection balance sheds a child's excess that way), which a keep-alive client
  // answers by connecting again, as this one does.
  const openOnce = (): Promise<'kept' | 'closing' | 'failed'> =>
    new Promise((resolve) => {
      const socket = net.connect(running.port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => resolve('failed'));
      socket.once('connect', () => socket.write(request));
      socket.once('data', (head: Buffer) => resolve(/\r\nconnection: *close\r\n/i.test(head.toString('latin1')) ? 'closing' : 'kept'));
      socket.setTimeout(5000, () => resolve('failed'));
    });
  const openOne = async (): Promise<boolean> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await openOnce();
      if (outcome !== 'closing') return outcome === 'kept';
    }
    return false;
  };
  const BATCH = 250;
  for (let i = 0; i < count; i += BATCH) {
    const answered = (await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, openOne))).filter(Boolean).length;
    if (answered < BATCH / 2) break;
  }
  await sleep(2000);
  const held = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
  const rss = treeRss(pid);
  for (const s of sockets) s.destroy();
  await sleep(1000);
  return { held, baseRss, rss };
}

/** How long each request of a long-poll scenario waits, ms. */
const waitMs = (scenario: Scenario): number => Number(/[?&]ms=(\d+)/.exec(scenario.path)?.[1] ?? 10);

// ---- tables ----------------------------------------------------------------

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const mib = (bytes: number): string => `${fmt(bytes / 2 ** 20, 0)} MiB`;

interface Row {
  label: string;
  key: string;
  samples: Sample[];
  idle?: IdleSample;
  skip?: string;
}

function throughputTable(rows: Row[]): string {
  const rpsOf = (key: string): number | null => {
    const row = rows.find((r) => r.key === key && r.samples.length > 0);
    return row ? median(row.samples.map((s) => s.rps)) : null;
  };
  const peers = ['gunicorn', 'uwsgi', 'granian', 'node'].filter((k) => rpsOf(k) !== null);
  const head = ['server', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'CPU µs/req', 'RSS', ...peers.map((k) => (k === 'node' ? '% of Node' : `× ${rows.find((r) => r.key === k)!.label.split(' ')[0]}`))];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) {
    if (row.samples.length === 0) {
      lines.push(`| ${row.label} | ${row.skip ?? 'no result'} |${' |'.repeat(head.length - 2)}`);
      continue;
    }
    const rps = median(row.samples.map((s) => s.rps));
    const ratios = peers.map((k) => (k === 'node' ? `${fmt((100 * rps) / rpsOf(k)!, 0)}%` : `${fmt(rps / rpsOf(k)!, 2)}×`));
    const errors = row.samples.reduce((n, s) => n + s.errors, 0);
    const cpu = median(row.samples.map((s) => s.cpuUs));
    lines.push(`| ${row.label} | ${fmt(rps)} | ${fmt(median(row.samples.map((s) => s.p50)), 2)} | ${fmt(median(row.samples.map((s) => s.p99)), 2)} | ${errors} | ${fmt(cpu)} | ${mib(median(row.samples.map((s) => s.rss)))} | ${ratios.join(' | ')} |`);
  }
  return lines.join('\n');
}

function idleTable(rows: Row[]): string {
  const lines = ['| server | connections held | RSS before | RSS with them | per connection |', '|---|---:|---:|---:|---:|'];
  for (const row of rows) {
    if (!row.idle) {
      lines.push(`| ${row.label} | ${row.skip ?? 'no result'} | | | |`);
      continue;
    }
    const { held, baseRss, rss } = row.idle;
    lines.push(`| ${row.label} | ${fmt(held)} | ${mib(baseRss)} | ${mib(rss)} | ${held ? `${fmt((rss - baseRss) / held / 1024, 1)} KiB` : '–'} |`);
  }
  return lines.join('\n');
}

// ---- main ------------------------------------------------------------------

interface Options {
  processes: number[];
  duration: number;
  repeats: number;
  scenarios: Scenario[];
  servers: Server[];
  write: string | null;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { processes: [1, 2], duration: 5, repeats: 3, scenarios: SCENARIOS, servers: SERVERS, write: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const list = <T extends { key: string }>(all: T[], what: string): T[] =>
      value()
        .split(',')
        .map((k) => all.find((x) => x.key === k) ?? fail(`unknown ${what} '${k}' (one of ${all.map((x) => x.key).join(', ')})`));
    if (flag === '--processes') opts.processes = value().split(',').map((v) => positive(v, flag));
    else if (flag === '--duration') opts.duration = positive(value(), flag);
    else if (flag === '--repeats') opts.repeats = positive(value(), flag);
    else if (flag === '--scenarios') opts.scenarios = list(SCENARIOS, 'scenario');
    else if (flag === '--servers') opts.servers = list(SERVERS, 'server');
    else if (flag === '--write') opts.write = path.resolve(value());
    else if (flag === '-h' || flag === '--help') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
      process.exit(0);
    } else fail(`unknown argument '${flag}' (see --help)`);
  }
  return opts;
}

function fail(message: string): never {
  throw new Error(message);
}

function positive(v: string, flag: string): number {
  if (!/^[1-9]\d*$/.test(v)) fail(`${flag}: '${v}' is not a positive whole number`);
  return Number(v);
}

function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const versions = execFileSync(path.join(BENCH_VENV, 'python'), ['-c', 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("gunicorn","gevent","pyuwsgi","waitress","granian","flask","django")))'], { encoding: 'utf8' }).trim();
  const python = execFileSync(PYTHON, ['--version'], { encoding: 'utf8' }).trim();
  const wrkVersion = (() => {
    try {
      execFileSync('wrk', ['-v'], { encoding: 'utf8' });
      return 'wrk';
    } catch (err) {
      return String((err as { stdout?: string }).stdout ?? 'wrk').split('\n')[0]!.trim();
    }
  })();
  return [
    `- ${os.cpus().length} × ${cpu}, ${fmt(os.totalmem() / 2 ** 30, 0)} GiB, Linux ${os.release()}`,
    `- Node ${process.version}, ${python}; peers: ${versions}; load: ${wrkVersion}`,
    '- everything on one machine over loopback: the load generator shares the cores with the server',
  ].join('\n');
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'spawning-bench-'));
  const say = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
  const sections: string[] = [];
  const commands = new Map<string, string>();
  const cleanup: ChildProcess[] = [];
  process.on('exit', () => cleanup.forEach(stop));
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143)); // so the servers under test are stopped too
  if (opts.scenarios.some((s) => TLS_MODES.includes(s.mode))) {
    TLS.cert = path.join(tmp, 'bench-cert.pem');
    TLS.key = path.join(tmp, 'bench-key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', TLS.key, '-out', TLS.cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  }
  try {
    for (const processes of opts.processes) {
      // Servers start once per mode and app, and serve every scenario of that group.
      const groups = [...new Set(opts.scenarios.map((s) => `${s.mode} ${s.app}`))].map((g) => opts.scenarios.filter((s) => `${s.mode} ${s.app}` === g));
      for (const scenarios of groups) {
        const { mode, app } = scenarios[0]!;
        const rows = new Map<string, Row[]>(scenarios.map((s) => [s.key, []]));
        const running: Running[] = [];
        let idleRoles: ReturnType<typeof rssByRole> | null = null;
        for (const server of opts.servers) {
          const r = await start(server, processes, mode, app, scenarios[0]!.path, tmp);
          if ('skip' in r) {
            say(`${server.label(mode)}: ${r.skip}`);
            for (const s of scenarios) rows.get(s.key)!.push({ label: server.label(mode), key: server.key, samples: [], skip: r.skip });
            continue;
          }
          cleanup.push(r.proc);
          running.push(r);
          if (server.key === 'spawning' && mode === 'sync') idleRoles = rssByRole(r.proc.pid!);
          commands.set(`${r.label}`, `${path.relative(ROOT, r.launch.cmd) || r.launch.cmd} ${r.launch.args.map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a)).join(' ')}`.replace(/--port \d+|127\.0\.0\.1:\d+|bench-ceiling\.js \d+/g, (m) => m.replace(/\d+$/, 'PORT')));
          for (const s of scenarios) rows.get(s.key)!.push({ label: r.label, key: server.key, samples: [] });
        }
        for (const scenario of scenarios) {
          const luaFile = scenario.lua ? path.join(tmp, `${scenario.key}.lua`) : null;
          if (luaFile) writeFileSync(luaFile, scenario.lua!);
          const table = rows.get(scenario.key)!;
          say(`${processes} process(es): ${scenario.title}`);
          if (mode === 'idle') {
            for (const r of running) {
              table.find((row) => row.key === r.server.key)!.idle = await idleConnections(r, scenario.connections);
              say(`  ${r.label}: ${JSON.stringify(table.find((row) => row.key === r.server.key)!.idle)}`);
            }
          } else {
            const load = (r: Running, seconds: number, pid?: number): Sample =>
              H2_MODES.includes(mode) ? h2load(r.port, scenario, seconds, pid) : wrk(r.port, scenario, seconds, luaFile, pid, TLS_MODES.includes(mode));
            for (const r of running) {
              load(r, 1); // warm-up
              if (mode === 'green') await sleep(waitMs(scenario) + 500);
            }
            for (let round = 1; round <= opts.repeats; round++) {
              for (const r of round % 2 ? running : [...running].reverse()) {
                const sample = load(r, opts.duration, r.proc.pid);
                // wrk leaves its last requests unanswered: let the server finish those waits
                // before the next run, so they do not hold slots during someone else's.
                if (mode === 'green') await sleep(waitMs(scenario) + 500);
                table.find((row) => row.key === r.server.key)!.samples.push(sample);
                say(`  run ${round}/${opts.repeats} ${r.label}: ${fmt(sample.rps)} req/s, p99 ${fmt(sample.p99, 2)} ms, ${fmt(sample.cpuUs)} µs CPU/request, ${sample.errors} errors`);
              }
            }
          }
          const text = mode === 'idle' ? idleTable(table) : throughputTable(table);
          const heading = `### ${scenario.title}: ${processes} process${processes > 1 ? 'es' : ''}`;
          const how = H2_MODES.includes(mode)
            ? `h2load -t2 -c${scenario.connections} -m${scenario.streams ?? 1} -D${opts.duration} --warm-up-time=1, median of ${opts.repeats} alternating runs (p50: h2load's mean; it gives no percentiles)`
            : mode === 'idle' ? `${fmt(scenario.connections)} connections, one request each (opened again when answered with \`Connection: close\`, up to 5 times), then held idle 2 s` : `wrk -t2 -c${scenario.connections} -d${opts.duration}s --latency, median of ${opts.repeats} alternating runs`;
          sections.push(`${heading}\n\n${how}\n\n${text}`);
          process.stdout.write(`\n${heading}\n\n${text}\n`);
        }
        const spawning = running.find((r) => r.server.key === 'spawning');
        if (spawning && idleRoles) {
          const heading = `### spawning's memory by role, ${app}.py: ${processes} process${processes > 1 ? 'es' : ''}`;
          const text = rolesTable(idleRoles, rssByRole(spawning.proc.pid!));
          sections.push(`${heading}\n\nidle: after one request; after the runs: after every scenario above on this app\n\n${text}`);
          process.stdout.write(`\n${heading}\n\n${text}\n`);
        }
        for (const r of running) stop(r.proc);
        await sleep(1500);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (opts.write) {
    const cmdList = [...commands].map(([label, cmd]) => `- ${label}: \`${cmd}\``).join('\n');
    const doc = readFileSafe(opts.write);
    const generated = [
      BEGIN,
      `Run on ${new Date().toISOString().slice(0, 10)} with \`scripts/bench ${process.argv.slice(2).filter((a, i, all) => !a.startsWith('--write') && all[i - 1] !== '--write').join(' ')}\`.`,
      '',
      machineDescription(),
      '',
      sections.join('\n\n'),
      '',
      '#### Exact server commands',
      '',
      cmdList,
      END,
    ].join('\n');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    writeFileSync(opts.write, start >= 0 && end > start ? doc.slice(0, start) + generated + doc.slice(end + END.length) : `${doc}\n${generated}\n`);
    say(`wrote ${path.relative(process.cwd(), opts.write)}`);
  }
}

const BEGIN = '<!-- results: generated by scripts/bench --write; do not edit by hand -->';
const END = '<!-- end of results -->';

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '# Benchmarks\n';
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
