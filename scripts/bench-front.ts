/**
 * A/B of the child's two HTTP fronts in one run: the same spawning command
 * (examples/bench.py, one process, four threads) started twice, once with
 * SPAWNING_FRONT=node (node:http) and once with the lean front, then loaded
 * by wrk in turns (A, B, A, B, …) so the machine's drift hits both alike.
 * Prints, per scenario, the median requests/s and the median CPU time per
 * request of each server's whole process tree (controller, child, worker),
 * which moves much less than requests/s on a shared machine. Not a test.
 *
 *   node dist/scripts/bench-front.js [--duration 5] [--repeats 3] [--scenarios hello,10k,echo]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, stopServersOnExit, treeCpu, wrkFigures } from './bench-lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  key: string;
  path: string;
  lua?: string;
}

const SCENARIOS: Scenario[] = [
  { key: 'hello', path: '/' },
  { key: '10k', path: '/10k' },
  { key: 'echo', path: '/echo', lua: 'wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\nwrk.headers["Content-Type"] = "application/octet-stream"\n' },
];

const FRONTS = [
  { key: 'node', label: 'node:http (SPAWNING_FRONT=node)', env: { SPAWNING_FRONT: 'node' } },
  { key: 'lean', label: 'lean h1 front (default)', env: { SPAWNING_FRONT: '' } },
];

async function start(env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const args = [path.join(ROOT, 'bin', 'spawning.js'), '--processes', '1', '--threads', '4', '-l', '/dev/null', '--python', path.join(ROOT, '.venv', 'bin', 'python'), '--port', String(port), 'bench.app'];
  const proc = spawn(process.execPath, args, { cwd: path.join(ROOT, 'examples'), env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
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
  throw new Error(`spawning with ${JSON.stringify(env)} did not answer in 30 s`);
}

interface Sample {
  rps: number;
  cpuUs: number;
  errors: number;
}

function wrk(port: number, scenario: Scenario, seconds: number, luaFile: string | null, pid: number): Sample {
  const args = ['-t2', '-c50', `-d${seconds}s`, ...(luaFile ? ['-s', luaFile] : []), `http://127.0.0.1:${port}${scenario.path}`];
  const before = treeCpu(pid).all;
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const cpu = treeCpu(pid).all - before;
  const { rps, requests, errors } = wrkFigures(out);
  return { rps, cpuUs: requests > 0 ? (cpu * 1e6) / requests : NaN, errors };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const duration = Number(opt('--duration', '5'));
  const repeats = Number(opt('--repeats', '3'));
  const keys = opt('--scenarios', 'hello,10k,echo').split(',');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'spawning-bench-front-'));
  const servers: { key: string; label: string; proc: ChildProcess; port: number }[] = [];
  const stopAll = stopServersOnExit(() => servers.map((s) => s.proc));
  try {
    for (const front of FRONTS) servers.push({ key: front.key, label: front.label, ...(await start(front.env)) });
    const lines = ['| scenario | front | requests/s (median) | CPU µs/request (median) | runs: requests/s | runs: µs/request | errors |', '|---|---|---:|---:|---|---|---:|'];
    for (const key of keys) {
      const scenario = SCENARIOS.find((s) => s.key === key);
      if (!scenario) throw new Error(`unknown scenario ${key}`);
      const luaFile = scenario.lua ? path.join(tmp, `${key}.lua`) : null;
      if (luaFile) writeFileSync(luaFile, scenario.lua!);
      for (const s of servers) wrk(s.port, scenario, 1, luaFile, s.proc.pid!); // warm-up
      const samples = new Map<string, Sample[]>(servers.map((s) => [s.key, []]));
      for (let round = 0; round < repeats; round++) {
        for (const s of servers) {
          const sample = wrk(s.port, scenario, duration, luaFile, s.proc.pid!);
          samples.get(s.key)!.push(sample);
          process.stderr.write(`bench-front: ${key} run ${round + 1}/${repeats} ${s.key}: ${sample.rps.toFixed(0)} req/s, ${sample.cpuUs.toFixed(1)} µs CPU/request, ${sample.errors} errors\n`);
        }
      }
      for (const s of servers) {
        const runs = samples.get(s.key)!;
        lines.push(
          `| ${key} | ${s.label} | ${median(runs.map((r) => r.rps)).toFixed(0)} | ${median(runs.map((r) => r.cpuUs)).toFixed(1)} | ${runs.map((r) => r.rps.toFixed(0)).join(', ')} | ${runs.map((r) => r.cpuUs.toFixed(1)).join(', ')} | ${runs.reduce((n, r) => n + r.errors, 0)} |`,
        );
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

void main().catch((err: Error) => {
  process.stderr.write(`bench-front: ${err.message}\n`);
  process.exit(1);
});
