/**
 * What each edge feature costs on the plain HTTP/1.1 path, as same-run A/Bs:
 * spawning servers (examples/bench.py, one process, four threads) started
 * side by side, plain and with one feature each, then loaded by wrk in turns
 * (A, B, C, …, then again) so the machine's drift hits all alike. Prints the
 * median requests/s and CPU µs per request of each server's process tree.
 * Not a test.
 *
 *   node dist/scripts/bench-edge.js [--duration 5] [--repeats 3] [--groups hello,file]
 *        [--baseline /path/to/other/checkout]   (its bin/spawning.js as one more plain row)
 *        [--only plain,proxy]                   (these variants alone, in this order)
 *
 * Groups:
 *   hello  GET / on: plain; --proxy-protocol (the connection carries no header, so this
 *          is the check every connection pays); --otel-endpoint to a receiver in this
 *          process (accepting and discarding); and, loaded by this script's own client
 *          (wrk takes a 103 for the response), GET / and GET /hints (a 103 before every
 *          response) on the plain server.
 *   file   a 10 MB response, 10 connections: /file10m (wsgi.file_wrapper, the front reads
 *          the worker's open file) against /read10m (the app reads and yields it).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, stopServersOnExit, treeCpu, wrkFigures } from './bench-lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Variant {
  key: string;
  label: string;
  /** Which server (by key) it loads. */
  server: string;
  path: string;
  connections: number;
  /** The load generator: wrk, or this script's own client (which reads 103s). */
  client?: 'wrk' | 'node';
}

interface ServerSpec {
  key: string;
  bin: string;
  args: string[];
}

async function start(spec: ServerSpec): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const args = [spec.bin, '--processes', '1', '--threads', '4', '-l', '/dev/null', '--python', path.join(ROOT, '.venv', 'bin', 'python'), '--port', String(port), ...spec.args, 'bench.app'];
  const proc = spawn(process.execPath, args, { cwd: path.join(ROOT, 'examples'), stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  for (let i = 0; i < 150; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return { proc, port };
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`spawning ${spec.args.join(' ')} did not answer in 30 s`);
}

interface Sample {
  rps: number;
  cpuUs: number;
  pyUs: number;
  errors: number;
}

function load(port: number, v: Variant, seconds: number, pid: number): Sample {
  if (v.client !== 'node') return wrk(port, v, seconds, pid);
  const { all: before, python: pyBefore } = treeCpu(pid);
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--client', String(port), v.path, String(v.connections), String(seconds)], { encoding: 'utf8' });
  const { all: after, python: pyAfter } = treeCpu(pid);
  const [requests, errors] = out.trim().split(' ').map(Number) as [number, number];
  const per = (s: number): number => (requests > 0 ? (s * 1e6) / requests : NaN);
  return { rps: requests / seconds, cpuUs: per(after - before), pyUs: per(pyAfter - pyBefore), errors };
}

function wrk(port: number, v: Variant, seconds: number, pid: number): Sample {
  const args = ['-t2', `-c${v.connections}`, `-d${seconds}s`, '--timeout', '10s', `http://127.0.0.1:${port}${v.path}`];
  const { all: before, python: pyBefore } = treeCpu(pid);
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const { all: after, python: pyAfter } = treeCpu(pid);
  const { rps, requests, errors } = wrkFigures(out);
  const per = (s: number): number => (requests > 0 ? (s * 1e6) / requests : NaN);
  return { rps, cpuUs: per(after - before), pyUs: per(pyAfter - pyBefore), errors };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const duration = Number(opt('--duration', '5'));
  const repeats = Number(opt('--repeats', '3'));
  const groups = opt('--groups', 'hello,file').split(',');
  const baseline = opt('--baseline', '');
  const bin = path.join(ROOT, 'bin', 'spawning.js');

  // An OTLP receiver that takes every export and answers 200, as a collector would. Its own process:
  // this one blocks in wrk, and a receiver here would leave every export hanging.
  const receiverPort = await freePort();
  const receiver = spawn(process.execPath, [fileURLToPath(import.meta.url), '--receiver', String(receiverPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => receiver.stdout!.once('data', resolve));
  const otlp = `http://127.0.0.1:${receiverPort}`;

  const specs: ServerSpec[] = [{ key: 'plain', bin, args: [] }];
  const variants: Variant[] = [];
  if (groups.includes('hello')) {
    if (baseline) specs.push({ key: 'baseline', bin: path.join(path.resolve(baseline), 'bin', 'spawning.js'), args: [] });
    specs.push({ key: 'proxy', bin, args: ['--proxy-protocol'] }, { key: 'otel', bin, args: ['--otel-endpoint', otlp] });
    variants.push({ key: 'plain', label: 'plain HTTP/1.1, GET /', server: 'plain', path: '/', connections: 50 });
    if (baseline) variants.push({ key: 'baseline', label: `${baseline} (plain), GET /`, server: 'baseline', path: '/', connections: 50 });
    variants.push(
      { key: 'proxy', label: '--proxy-protocol (no header sent), GET /', server: 'proxy', path: '/', connections: 50 },
      { key: 'otel', label: '--otel-endpoint (exporting), GET /', server: 'otel', path: '/', connections: 50 },
      { key: 'plain-node', label: 'plain, GET / (node client)', server: 'plain', path: '/', connections: 50, client: 'node' },
      { key: 'hints', label: 'plain, GET /hints: a 103 first (node client)', server: 'plain', path: '/hints', connections: 50, client: 'node' },
    );
  }
  if (groups.includes('file')) {
    variants.push(
      { key: 'file', label: '10 MB by wsgi.file_wrapper (/file10m)', server: 'plain', path: '/file10m', connections: 10 },
      { key: 'read', label: '10 MB read and yielded by the app (/read10m)', server: 'plain', path: '/read10m', connections: 10 },
    );
  }
  const only = opt('--only', '');
  if (only) {
    const keys = only.split(',');
    const picked = keys.map((k) => variants.find((v) => v.key === k) ?? (() => { throw new Error(`unknown variant ${k}`); })());
    variants.splice(0, variants.length, ...picked);
    const used = new Set(picked.map((v) => v.server));
    specs.splice(0, specs.length, ...specs.filter((sp) => used.has(sp.key)));
  }
  const servers = new Map<string, { proc: ChildProcess; port: number }>();
  const stopAll = stopServersOnExit(() => [...servers.values()].map((s) => s.proc));
  try {
    for (const spec of specs) servers.set(spec.key, await start(spec));
    const samples = new Map<string, Sample[]>(variants.map((v) => [v.key, []]));
    for (const v of variants) load(servers.get(v.server)!.port, v, 1, servers.get(v.server)!.proc.pid!); // warm-up
    for (let round = 0; round < repeats; round++) {
      for (const v of variants) {
        const s = servers.get(v.server)!;
        const sample = load(s.port, v, duration, s.proc.pid!);
        samples.get(v.key)!.push(sample);
        process.stderr.write(`bench-edge: run ${round + 1}/${repeats} ${v.key}: ${sample.rps.toFixed(0)} req/s, ${sample.cpuUs.toFixed(1)} µs CPU/request (Python ${sample.pyUs.toFixed(1)}), ${sample.errors} errors\n`);
      }
    }
    const lines = ['| variant | requests/s (median) | CPU µs/request (median) | of it Python | runs: requests/s | errors |', '|---|---:|---:|---:|---|---:|'];
    for (const v of variants) {
      const runs = samples.get(v.key)!;
      lines.push(
        `| ${v.label} | ${median(runs.map((r) => r.rps)).toFixed(0)} | ${median(runs.map((r) => r.cpuUs)).toFixed(1)} | ${median(runs.map((r) => r.pyUs)).toFixed(1)} | ${runs.map((r) => r.rps.toFixed(0)).join(', ')} | ${runs.reduce((n, r) => n + r.errors, 0)} |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    stopAll();
    receiver.kill();
    if (groups.includes('hello')) process.stdout.write(`(OTLP/HTTP exports received: ${await new Promise<string>((resolve) => receiver.stdout!.on('data', (d: Buffer) => resolve(d.toString().trim())))})\n`);
  }
}

/** `--receiver PORT`: the OTLP sink, printing "ready" and, on SIGTERM, how many exports and bytes it took. */
function receiverMain(port: number): void {
  let exports = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => {
    process.stdout.write(`${exports} exports, ${bytes} bytes\n`);
    process.exit(0);
  });
}

/**
 * `--client PORT PATH CONNECTIONS SECONDS`: keep-alive GETs on raw sockets, one
 * at a time per connection, counting final responses only (wrk counts a 103
 * as a response and sends the next request, so it cannot load /hints).
 * Prints the count. Bodies must carry Content-Length.
 */
function clientMain(port: number, target: string, connections: number, seconds: number): void {
  const request = Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  let done = 0;
  let errors = 0;
  const until = Date.now() + seconds * 1000;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < connections; i++) {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('connect', () => socket.write(request));
    socket.on('error', () => errors++);
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const status = Number(head.slice(9, 12));
        if (status < 200) {
          buf = buf.subarray(end + 4);
          continue;
        }
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        if (status !== 200) errors++;
        done++;
        if (Date.now() < until) socket.write(request);
        else socket.end();
      }
    });
  }
  setTimeout(() => {
    for (const s of sockets) s.destroy();
    process.stdout.write(`${done} ${errors}\n`);
  }, seconds * 1000 + 200);
}

if (process.argv[2] === '--receiver') receiverMain(Number(process.argv[3]));
else if (process.argv[2] === '--client') clientMain(Number(process.argv[3]), process.argv[4]!, Number(process.argv[5]), Number(process.argv[6]));
else void main().catch((err: Error) => {
  process.stderr.write(`bench-edge: ${err.message}\n`);
  process.exit(1);
});
