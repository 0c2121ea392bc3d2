/**
 * What the benchmark scripts (bench.ts, bench-front.ts, bench-edge.ts) share:
 * a free port, a server's process tree and its CPU time from /proc, wrk's
 * figures, the median of alternating runs, and stopping the servers started.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The command name and the fields of /proc/PID/stat after it (state, ppid, …); null once the process is gone. */
function procStat(pid: number | string): { name: string; fields: string[] } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
  } catch {
    return null;
  }
}

/** A process and all its descendants, from /proc. */
export function processTree(root: number): Set<number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat) parents.set(Number(entry), Number(stat.fields[1]));
  }
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) if (tree.has(ppid) && !tree.has(pid)) grew = tree.add(pid) !== undefined;
  }
  return tree;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * CPU seconds (user + system) a process and its descendants have used so far, and the Python
 * processes' share. Per request, this is what a server costs whatever the host's noise: the
 * requests/s of a run swing with what else the cores do, the CPU per request much less.
 */
export function treeCpu(root: number): { all: number; python: number } {
  let all = 0;
  let python = 0;
  for (const pid of processTree(root)) {
    const stat = procStat(pid);
    if (!stat) continue;
    const ticks = Number(stat.fields[11]) + Number(stat.fields[12]); // utime, stime
    all += ticks;
    if (stat.name.startsWith('python')) python += ticks;
  }
  return { all: all / CLOCK_TICKS, python: python / CLOCK_TICKS };
}

/** wrk's figures: requests/s, requests answered, and errors (non-2xx/3xx answers and socket errors). */
export function wrkFigures(out: string): { rps: number; requests: number; errors: number } {
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    requests: Number(/(\d+) requests in /.exec(out)?.[1] ?? 0),
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + (socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0),
  };
}

export const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/**
 * Stops every server process group `procs()` lists (each started detached, so
 * its children go too) on exit or Ctrl-C; returns the stop, to call at the end.
 */
export function stopServersOnExit(procs: () => Iterable<{ pid?: number }>): () => void {
  const stopAll = (): void => {
    for (const p of procs()) {
      try {
        process.kill(-p.pid!, 'SIGTERM');
      } catch {
        // gone
      }
    }
  };
  process.on('exit', stopAll);
  process.on('SIGINT', () => process.exit(130));
  return stopAll;
}
