/** src/actors/process-memory.ts against real Python processes. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { processTree, rssByPid, totalRss, treeRss } from '../../src/actors/process-memory.js';

const MB = 1024 * 1024;
const PYTHON = process.env.SPAWNING_TEST_PYTHON ?? 'python3';
const started: ChildProcess[] = [];

/** A Python that allocates (and touches) `mb` megabytes, optionally in a child of its own, then waits. */
async function python(mb: number, inChild = false): Promise<{ proc: ChildProcess; grandchild: number | null }> {
  const hold = `import sys; x = b'\\x01' * (${mb} * 1024 * 1024)`;
  const code = inChild
    ? `import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', ${JSON.stringify(hold + "; print('ready', flush=True); sys.stdin.read()")}], stdout=subprocess.PIPE, stdin=subprocess.PIPE); p.stdout.readline(); print(p.pid, flush=True); sys.stdin.read(); p.kill()`
    : `${hold}; print('ready', flush=True); sys.stdin.read()`;
  const proc = spawn(PYTHON, ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  started.push(proc);
  const [line] = (await once(proc.stdout!, 'data')) as [Buffer];
  const first = line.toString().trim();
  return { proc, grandchild: inChild ? Number(first) : null };
}

async function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
}

describe('process memory', () => {
  after(async () => {
    for (const p of started) {
      p.stdin?.end();
      p.kill();
      await exited(p);
    }
  });

  it('sees a Python process that holds 100 MB', async () => {
    const small = await python(1);
    const big = await python(100);
    const rss = await rssByPid([small.proc.pid!, big.proc.pid!]);
    const smallRss = rss.get(small.proc.pid!)!;
    const bigRss = rss.get(big.proc.pid!)!;
    assert.ok(smallRss > 1 * MB && smallRss < 60 * MB, `small: ${smallRss / MB} MB`);
    assert.ok(bigRss >= 100 * MB && bigRss < 200 * MB, `big: ${bigRss / MB} MB`);
    assert.ok(bigRss - smallRss >= 95 * MB);
    // A live process's RSS moves by a page or two between reads: compare loosely.
    const total = await totalRss([small.proc.pid!, big.proc.pid!, big.proc.pid!]);
    assert.ok(Math.abs(total - (smallRss + bigRss)) < MB, `a repeated pid counts once: ${total} vs ${smallRss + bigRss}`);
  });

  it('skips a pid that has gone, without an error', async () => {
    const gone = await python(1);
    gone.proc.kill('SIGKILL');
    await exited(gone.proc);
    const live = await python(1);
    const rss = await rssByPid([gone.proc.pid!, live.proc.pid!, 0, -1]);
    assert.deepEqual([...rss.keys()], [live.proc.pid!]);
    assert.equal(await totalRss([gone.proc.pid!]), 0);
    assert.deepEqual(await processTree(gone.proc.pid!), []);
  });

  it('adds up a process tree: the worker a process started counts too', async () => {
    const parent = await python(100, true);
    const tree = await processTree(parent.proc.pid!);
    assert.equal(tree[0], parent.proc.pid!);
    assert.ok(tree.includes(parent.grandchild!), `tree ${tree.join(',')} lacks ${parent.grandchild}`);
    const own = (await rssByPid([parent.proc.pid!])).get(parent.proc.pid!)!;
    const whole = await treeRss(parent.proc.pid!);
    assert.ok(own < 60 * MB, `parent alone: ${own / MB} MB`);
    assert.ok(whole - own >= 100 * MB, `tree: ${whole / MB} MB`);
  });

  it('reads this process as the kernel reports it', async () => {
    const rss = (await rssByPid([process.pid])).get(process.pid)!;
    const node = process.memoryUsage.rss();
    assert.ok(Math.abs(rss - node) < 16 * MB, `/proc says ${rss}, node says ${node}`);
  });
});
