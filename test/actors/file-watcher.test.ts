/** The file watcher against real files and the save patterns of real editors. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FileWatcher } from '../../src/actors/file-watcher.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(path.join(tmpdir(), 'spawning-watch-'));

async function changesAfter(files: string[], act: () => void): Promise<string[]> {
  const seen: string[] = [];
  const w = new FileWatcher((f) => seen.push(f));
  await w.add(files);
  await sleep(50);
  act();
  await sleep(300);
  w.close();
  return seen;
}

describe('file watcher', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sees a rename-over save (new inode), as vim and atomic writers do', async () => {
    const f = path.join(dir, 'a.py');
    writeFileSync(f, 'x = 1\n');
    const seen = await changesAfter([f], () => {
      writeFileSync(f + '.swp', 'x = 2\n');
      renameSync(f + '.swp', f);
    });
    assert.ok(seen.includes(f), JSON.stringify(seen));
  });

  it('sees truncate-and-write and appends, and ignores other files in the directory', async () => {
    const f = path.join(dir, 'b.py');
    writeFileSync(f, 'y = 1\n');
    const seen = await changesAfter([f], () => {
      truncateSync(f, 0);
      appendFileSync(f, 'y = 22\n');
      writeFileSync(path.join(dir, 'unrelated.txt'), 'noise');
    });
    assert.ok(seen.length >= 1 && seen.every((s) => s === f), JSON.stringify(seen));
  });

  it('sees several files changed at once, and a file created after it was watched', async () => {
    const a = path.join(dir, 'c.py');
    const b = path.join(dir, 'later.py');
    writeFileSync(a, '1');
    const seen = await changesAfter([a, b], () => {
      writeFileSync(a, '22');
      writeFileSync(b, 'now here');
    });
    assert.deepEqual([...new Set(seen)].sort(), [a, b].sort());
  });

  it('reports nothing when nothing changed (a touch without content change still counts by mtime)', async () => {
    const f = path.join(dir, 'd.py');
    writeFileSync(f, 'z');
    const seen = await changesAfter([f], () => {});
    assert.deepEqual(seen, []);
  });
});
