/** Reading the process tree and memory of running spawning processes from /proc (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is parenthesised and may itself contain spaces or parentheses.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    return { pid, ppid: Number(fields[1]), comm, state: fields[0]! };
  } catch {
    return null;
  }
}

function allProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProc(Number(name));
    if (info && info.state !== 'Z') out.push(info);
  }
  return out;
}

/** Every live descendant of `root` (not `root` itself). */
export function descendants(root: number): ProcInfo[] {
  const procs = allProcs();
  const found: ProcInfo[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of procs) {
      if (p.ppid === parent) {
        found.push(p);
        frontier.push(p.pid);
      }
    }
  }
  return found;
}

/** Python worker pids under a controller. */
export function workerPids(controllerPid: number): number[] {
  return descendants(controllerPid)
    .filter((p) => p.comm.startsWith('python'))
    .map((p) => p.pid);
}

/** Child (Node) pids directly under a controller. */
export function childPids(controllerPid: number): number[] {
  return descendants(controllerPid)
    .filter((p) => p.ppid === controllerPid && p.comm.startsWith('node'))
    .map((p) => p.pid);
}

/** Resident set size in bytes; 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** RSS of the controller and everything under it. */
export function treeRssBytes(controllerPid: number): number {
  return [controllerPid, ...descendants(controllerPid).map((p) => p.pid)].reduce((sum, pid) => sum + rssBytes(pid), 0);
}

/** Running (a zombie, gone but not yet reaped by its new parent, counts as dead). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Real, effective, saved and filesystem uids and gids, and the session id. */
export function identityOf(pid: number): { uids: number[]; gids: number[]; sid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const ids = (key: string): number[] => new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)![1]!.trim().split(/\s+/).map(Number);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const sid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  return { uids: ids('Uid'), gids: ids('Gid'), sid };
}

/** Live processes whose command line contains `text` (to find what a test started outside its process group). */
export function pidsWithArgument(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text) && isAlive(Number(name))) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
