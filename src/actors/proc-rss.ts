/** Resident set size of processes, read from /proc (Linux). */
import { readFile } from 'node:fs/promises';

const PAGE_SIZE = 4096;

/** Total RSS in bytes of `pids`; a pid that has gone away counts 0. */
export async function readRss(pids: number[]): Promise<number> {
  const sizes = await Promise.all(
    pids.map(async (pid) => {
      try {
        const statm = await readFile(`/proc/${pid}/statm`, 'utf8');
        return Number(statm.split(' ')[1]) * PAGE_SIZE;
      } catch {
        return 0;
      }
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}
