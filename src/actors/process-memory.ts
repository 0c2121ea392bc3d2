/**
 * Resident memory of processes, read from /proc (Linux): one small read per
 * pid, no child processes, no native module. /proc/PID/status gives VmRSS in
 * kB, which spares us the page size (4K on x86, often 16K or 64K on arm64)
 * that /proc/PID/statm would need.
 *
 * A pid that has exited (or is a zombie, which has no VmRSS any more) is
 * skipped, not an error: samples race with exits all the time.
 */
import { readdir, readFile } from 'node:fs/promises';

/** RSS in bytes of each pid still alive; vanished pids are absent from the map. */
export async function rssByPid(pids: Iterable<number>): Promise<Map<number, number>> {
  const unique = [...new Set(pids)];
  const sizes = await Promise.all(unique.map(readVmRss));
  const out = new Map<number, number>();
  unique.forEach((pid, i) => {
    const size = sizes[i];
    if (size !== null && size !== undefined) out.set(pid, size);
  });
  return out;
}

/** Total RSS in bytes of the pids still alive. */
export async function totalRss(pids: Iterable<number>): Promise<number> {
  let sum = 0;
  for (const size of (await rssByPid(pids)).values()) sum += size;
  return sum;
}

/** `root` and all its descendants still alive, root first (breadth-first). */
export async function processTree(root: number): Promise<number[]> {
  const tree: number[] = [];
  let level = [root];
  const seen = new Set<number>();
  while (level.length > 0) {
    const next: number[] = [];
    for (const pid of level) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      if (pid !== root || (await alive(pid))) tree.push(pid);
      next.push(...(await childrenOf(pid)));
    }
    level = next;
  }
  return tree;
}

/** Total RSS in bytes of `root` and every descendant (a child, its Python worker, anything the app forked). */
export async function treeRss(root: number): Promise<number> {
  return totalRss(await processTree(root));
}

async function readVmRss(pid: number): Promise<number | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'latin1');
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

async function alive(pid: number): Promise<boolean> {
  try {
    await readFile(`/proc/${pid}/stat`, 'latin1');
    return true;
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}

/** Direct children, from /proc/PID/task/TID/children (Linux ≥ 3.5 with CONFIG_PROC_CHILDREN). */
async function childrenOf(pid: number): Promise<number[]> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch (err) {
    if (isGone(err)) return [];
    throw err;
  }
  const lists = await Promise.all(
    tids.map(async (tid) => {
      try {
        return await readFile(`/proc/${pid}/task/${tid}/children`, 'latin1');
      } catch (err) {
        if (isGone(err)) return '';
        throw err;
      }
    }),
  );
  return lists.flatMap((l) => l.split(/\s+/).filter(Boolean).map(Number));
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  // ESRCH: the process exited between opening and reading its file.
  return code === 'ENOENT' || code === 'ESRCH';
}
