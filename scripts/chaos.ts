/**
 * Chaos: runs any server configuration under keep-alive load while it applies
 * chosen faults, one after the other, and prints for each how many requests
 * were sent, failed and refused while it lasted (and until the server had
 * settled again).
 *
 *   scripts/chaos [--faults LIST] [--seconds 6] [--concurrency 16]
 *                 [--cwd DIR] [--edit FILE] [-- SERVER ARGS...]
 *
 * Faults (default: all, in this order; kill-controller always last):
 *   hup              a SIGHUP storm: 8 reloads asked for 250 ms apart
 *   ttin             SIGTTIN then SIGTTOU, twice (a front more, a front less)
 *   edit             3 saves of the --edit file, 1 s apart (the server must watch it)
 *   kill-worker      kill -9 of a Python worker, twice
 *   kill-child       kill -9 of a child (an HTTP front), twice
 *   slowloris        400 connections that send a head one byte a second
 *   fuzz             2,000 malformed requests, each on its own connection
 *   kill-controller  kill -9 of the controller: afterwards no child or worker
 *                    may keep serving (checked; exit 1 if one does)
 *
 * Without SERVER ARGS it serves a small app of its own from a temporary
 * directory, with `--processes 2 --threads 4 --watch chaos.txt`. The server
 * always gets `--host 127.0.0.1 --port 0 -l /dev/null` and the project's
 * .venv Python. Requests that die with a killed worker or child are failures
 * here too: the numbers say what each fault costs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childPids, descendants, workerPids } from '../test/helpers/processes.js';
import { startLoad, type LoadReport } from '../test/helpers/load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALL_FAULTS = ['hup', 'ttin', 'edit', 'kill-worker', 'kill-child', 'slowloris', 'fuzz', 'kill-controller'] as const;
type Fault = (typeof ALL_FAULTS)[number];

const APP = `
import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Options {
  faults: Fault[];
  seconds: number;
  concurrency: number;
  cwd: string | null;
  edit: string | null;
  serverArgs: string[];
}

function parse(argv: string[]): Options {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const value = (name: string): string | undefined => {
    const i = own.indexOf(`--${name}`);
    return i >= 0 ? own[i + 1] : undefined;
  };
  const faults = (value('faults') ?? ALL_FAULTS.join(',')).split(',').map((f) => f.trim()) as Fault[];
  for (const f of faults) if (!ALL_FAULTS.includes(f)) throw new Error(`chaos: unknown fault '${f}' (known: ${ALL_FAULTS.join(', ')})`);
  // The controller's death ends the run: it goes last.
  faults.sort((a, b) => Number(a === 'kill-controller') - Number(b === 'kill-controller'));
  return {
    faults,
    seconds: Number(value('seconds') ?? 6),
    concurrency: Number(value('concurrency') ?? 16),
    cwd: value('cwd') ?? null,
    edit: value('edit') ?? null,
    serverArgs: dash >= 0 ? argv.slice(dash + 1) : [],
  };
}

interface Counts {
  sent: number;
  ok: number;
  failed: number;
  refused: number;
  reasons: Map<string, number>;
}

function snapshot(r: LoadReport): Counts {
  return { sent: r.sent, ok: r.ok, failed: r.failed, refused: r.reasons.get('ECONNREFUSED') ?? 0, reasons: new Map(r.reasons) };
}

function diff(a: Counts, b: Counts): Counts {
  const reasons = new Map<string, number>();
  for (const [k, v] of b.reasons) if (v - (a.reasons.get(k) ?? 0) > 0) reasons.set(k, v - (a.reasons.get(k) ?? 0));
  return { sent: b.sent - a.sent, ok: b.ok - a.ok, failed: b.failed - a.failed, refused: b.refused - a.refused, reasons };
}

/** Malformed requests of several kinds, each the front must refuse. */
function fuzzed(i: number): string {
  const junk = String.fromCharCode(...Array.from({ length: 1 + (i % 7) }, (_, j) => (i * 31 + j * 7) % 32));
  switch (i % 5) {
    case 0:
      return `GET /x HTTP/1.1\r\nHost: a\r\nX-${junk}y: 1\r\n\r\n`;
    case 1:
      return `G${junk}T /x HTTP/1.1\r\nHost: a\r\n\r\n`;
    case 2:
      return `GET /x HTTP/1.1\r\nHost: a\r\nX-${i} : 1\r\n\r\n`;
    case 3:
      return `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`;
    default:
      return `GET /x HTTP/2.0\r\nHost: a\r\n\r\n`;
  }
}

function sendRaw(port: number, raw: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(raw, 'latin1'));
    socket.on('data', () => {});
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

class Server {
  stderr = '';
  readonly proc: ChildProcess;

  constructor(args: string[], cwd: string) {
    this.proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'spawning.js'), '--host', '127.0.0.1', '--port', '0', '-l', '/dev/null', '--python', path.join(ROOT, '.venv', 'bin', 'python'), ...args], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own group, so whatever is left can be killed at the end.
      detached: true,
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async waitFor(re: RegExp, ms = 30_000, from = 0): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.stderr.slice(from));
      if (m) return m;
      if (Date.now() > end) throw new Error(`chaos: timed out waiting for ${re}; stderr:\n${this.stderr.slice(-3000)}`);
      await sleep(50);
    }
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }
}

/** The load runs clean again: a second with answers and no new failure (30 s at most). */
async function settled(report: LoadReport, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const failed = report.failed;
    const ok = report.ok;
    await sleep(1000);
    if (report.failed === failed && report.ok > ok) return;
  }
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  const own = opts.serverArgs.length === 0;
  const dir = opts.cwd ?? mkdtempSync(path.join(tmpdir(), 'spawning-chaos-'));
  const editFile = opts.edit ?? (own ? 'chaos.txt' : null);
  if (own) {
    writeFileSync(path.join(dir, 'chaosapp.py'), APP);
    writeFileSync(path.join(dir, 'chaos.txt'), 'v0\n');
  }
  const args = own ? ['--processes', '2', '--threads', '4', '--watch', 'chaos.txt', 'chaosapp:app'] : opts.serverArgs;
  const server = new Server(args, dir);
  let exitCode = 0;
  const rows: Array<[string, Counts, string]> = [];
  try {
    const port = Number((await server.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    await server.waitFor(/ready \((\d+)\/\1 children\)/);
    process.stdout.write(`chaos: ${args.join(' ')} on port ${port}; ${opts.concurrency} keep-alive clients; faults: ${opts.faults.join(', ')}\n`);
    const load = startLoad(port, '/', opts.concurrency);
    const window = async (name: string, apply: () => Promise<string>): Promise<void> => {
      const before = snapshot(load.report);
      const started = Date.now();
      const note = await apply();
      const rest = opts.seconds * 1000 - (Date.now() - started);
      if (rest > 0) await sleep(rest);
      await settled(load.report);
      rows.push([name, diff(before, snapshot(load.report)), note]);
      process.stdout.write(`chaos: ${name} done\n`);
    };

    await window('baseline', async () => '');
    for (const fault of opts.faults) {
      switch (fault) {
        case 'hup':
          await window('SIGHUP storm', async () => {
            for (let i = 0; i < 8; i++) {
              server.signal('SIGHUP');
              await sleep(250);
            }
            return '8 SIGHUPs, 250 ms apart';
          });
          break;
        case 'ttin':
          await window('TTIN/TTOU', async () => {
            for (let i = 0; i < 2; i++) {
              server.signal('SIGTTIN');
              await sleep(1500);
              server.signal('SIGTTOU');
              await sleep(1500);
            }
            return 'twice: a front more, then one less';
          });
          break;
        case 'edit':
          await window('file edits', async () => {
            if (editFile === null) return 'skipped: give --edit FILE (a file the server watches)';
            for (let i = 1; i <= 3; i++) {
              appendFileSync(path.resolve(dir, editFile), `# chaos edit ${i}\n`);
              await sleep(1000);
            }
            return `3 saves of ${editFile}`;
          });
          break;
        case 'kill-worker':
          await window('kill -9 worker', async () => {
            const killed: number[] = [];
            for (let i = 0; i < 2; i++) {
              const pid = workerPids(server.pid)[0];
              if (pid !== undefined) {
                process.kill(pid, 'SIGKILL');
                killed.push(pid);
              }
              await sleep(1500);
            }
            return `killed ${killed.join(', ')}`;
          });
          break;
        case 'kill-child':
          await window('kill -9 child', async () => {
            const killed: number[] = [];
            for (let i = 0; i < 2; i++) {
              const pid = childPids(server.pid)[0];
              if (pid !== undefined) {
                process.kill(pid, 'SIGKILL');
                killed.push(pid);
              }
              await settled(load.report);
              await sleep(1000);
            }
            return `killed ${killed.join(', ')}`;
          });
          break;
        case 'slowloris':
          await window('slowloris', async () => {
            const sockets: net.Socket[] = [];
            for (let i = 0; i < 400; i++) {
              const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n'));
              s.on('error', () => {});
              sockets.push(s);
            }
            const drip = setInterval(() => {
              for (const s of sockets) if (!s.destroyed) s.write('X');
            }, 1000);
            await sleep(opts.seconds * 1000);
            clearInterval(drip);
            const answered = sockets.filter((s) => s.destroyed || s.readableEnded).length;
            for (const s of sockets) s.destroy();
            return `400 connections dripping a head; ${answered} of them closed by the server within the window (--headers-timeout)`;
          });
          break;
        case 'fuzz':
          await window('fuzzed HTTP', async () => {
            for (let i = 0; i < 2000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => sendRaw(port, fuzzed(i + j))));
            const summaries = (server.stderr.match(/×[\d,]+ from/g) ?? []).length;
            const full = (server.stderr.match(/: (400|431|505) for /g) ?? []).length;
            return `2,000 malformed requests; ${full} full log lines and ${summaries} summaries so far`;
          });
          break;
        case 'kill-controller': {
          const before = snapshot(load.report);
          const pids = [...childPids(server.pid), ...workerPids(server.pid), ...descendants(server.pid).map((p) => p.pid)];
          const tree = [...new Set(pids)];
          const killedAt = Date.now();
          process.kill(server.pid, 'SIGKILL');
          // Every process it left must be gone, and the port must stop answering, within the deadman timeout and a margin.
          const deadline = killedAt + 20_000;
          let alive = tree;
          let lastOk = load.report.ok;
          let lastOkAt = killedAt;
          while (Date.now() < deadline) {
            alive = tree.filter((pid) => {
              try {
                process.kill(pid, 0);
                return true;
              } catch {
                return false;
              }
            });
            if (load.report.ok !== lastOk) {
              lastOk = load.report.ok;
              lastOkAt = Date.now();
            }
            if (alive.length === 0) break;
            await sleep(100);
          }
          const goneAfter = (Date.now() - killedAt) / 1000;
          const counts = diff(before, snapshot(load.report));
          const okAfterKill = counts.ok;
          await sleep(1000);
          const servedLater = load.report.ok - lastOk;
          let note: string;
          if (alive.length > 0) {
            exitCode = 1;
            note = `FAILED: ${alive.length} of ${tree.length} processes still alive after 20 s (${alive.join(', ')})`;
          } else if (servedLater > 0) {
            exitCode = 1;
            note = `FAILED: ${servedLater} requests answered after every process was gone?`;
          } else {
            note = `all ${tree.length} children and workers gone ${goneAfter.toFixed(1)} s after the kill; last answer ${((lastOkAt - killedAt) / 1000).toFixed(1)} s after it (${okAfterKill} answered in between, on open connections); new connections refused`;
          }
          rows.push(['kill -9 controller', diff(before, snapshot(load.report)), note]);
          break;
        }
      }
    }
    await load.stop();
  } finally {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
    if (opts.cwd === null) rmSync(dir, { recursive: true, force: true });
  }

  const pad = (s: string | number, n: number): string => String(s).padStart(n);
  process.stdout.write(`\n${'fault'.padEnd(20)}${pad('sent', 8)}${pad('ok', 8)}${pad('failed', 8)}${pad('refused', 9)}  notes\n`);
  for (const [name, c, note] of rows) {
    const reasons = [...c.reasons].filter(([k]) => k !== 'ECONNREFUSED').map(([k, v]) => `${k} ×${v}`).join(', ');
    process.stdout.write(`${name.padEnd(20)}${pad(c.sent, 8)}${pad(c.ok, 8)}${pad(c.failed, 8)}${pad(c.refused, 9)}  ${[note, reasons && `failures: ${reasons}`].filter(Boolean).join('; ')}\n`);
  }
  process.exit(exitCode);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
