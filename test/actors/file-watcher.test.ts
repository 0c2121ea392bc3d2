/** The file watcher against real files and the save patterns of real editors and tools. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createActor } from 'xstate';
import { reloaderMachine } from '../../machines/reloader.js';
import { FileWatcher } from '../../src/actors/file-watcher.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const root = mkdtempSync(path.join(tmpdir(), 'spawning-watch-'));
let n = 0;
const freshDir = (): string => {
  const d = path.join(root, `t${n++}`);
  mkdirSync(d);
  return d;
};

/** Waits until `cond` holds (fs events are asynchronous), failing after `ms`. */
async function until(cond: () => boolean, what: () => string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting: ${what()}`);
    await sleep(10);
  }
}

/** Kernel watches this process holds, from the fdinfo of libuv's inotify descriptor. */
function inotifyWatches(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:inotify') continue;
    count += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('inotify wd:')).length;
  }
  return count;
}

/** The identity a Python worker reports for a file it imported (python/spawning/module_files.py). */
function identityOf(file: string): string {
  const s = statSync(file, { bigint: true });
  return `${s.ino}:${s.size}:${s.mtimeNs}`;
}

function watcher(): { w: FileWatcher; seen: string[]; errors: string[] } {
  const seen: string[] = [];
  const errors: string[] = [];
  const w = new FileWatcher(
    (f) => seen.push(f),
    (line) => errors.push(line),
  );
  return { w, seen, errors };
}

describe('file watcher', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it('sees a rename-over save (new inode), as vim and atomic writers do, and keeps seeing the next ones', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'a.py');
    writeFileSync(f, 'x = 1\n');
    const { w, seen } = watcher();
    await w.add([f]);
    for (let i = 2; i <= 3; i++) {
      writeFileSync(path.join(dir, '.a.py.swp'), `x = ${i}\n`);
      renameSync(path.join(dir, '.a.py.swp'), f);
      await until(
        () => seen.length >= i - 1,
        () => JSON.stringify(seen),
      );
    }
    w.close();
    assert.ok(seen.every((s) => s === f), JSON.stringify(seen));
  });

  it('sees truncate-and-write and appends, and ignores other files in the directory', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'b.py');
    writeFileSync(f, 'y = 1\n');
    const { w, seen } = watcher();
    await w.add([f]);
    truncateSync(f, 0);
    appendFileSync(f, 'y = 22\n');
    writeFileSync(path.join(dir, 'unrelated.txt'), 'noise');
    writeFileSync(path.join(dir, 'b.pyc'), 'noise');
    await until(
      () => seen.length >= 1,
      () => 'no change reported',
    );
    await sleep(100);
    w.close();
    assert.ok(seen.every((s) => s === f), JSON.stringify(seen));
    // fs.watch fires several events for this; identity checks fold most of them.
    assert.ok(seen.length <= 3, `${seen.length} reports for one save`);
  });

  it('sees several files changed at once, and a file created after it was watched', async () => {
    const dir = freshDir();
    const a = path.join(dir, 'c.py');
    const b = path.join(dir, 'later.py');
    writeFileSync(a, '1');
    const { w, seen } = watcher();
    await w.add([a, b]);
    writeFileSync(a, '22');
    writeFileSync(b, 'now here');
    await until(
      () => new Set(seen).size === 2,
      () => JSON.stringify(seen),
    );
    w.close();
    assert.deepEqual([...new Set(seen)].sort(), [a, b].sort());
  });

  it('reports a deletion, and the file coming back', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'gone.py');
    writeFileSync(f, 'x');
    const { w, seen } = watcher();
    await w.add([f]);
    unlinkSync(f);
    await until(
      () => seen.length === 1,
      () => JSON.stringify(seen),
    );
    writeFileSync(f, 'back');
    await until(
      () => seen.length === 2,
      () => JSON.stringify(seen),
    );
    w.close();
  });

  it('reports nothing when nothing changed, and a touch (new mtime) as a change', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'd.py');
    writeFileSync(f, 'z');
    const { w, seen } = watcher();
    await w.add([f, f, path.relative(process.cwd(), f)]);
    assert.equal(w.size, 1, 'the same file given three ways is one file');
    await sleep(150);
    assert.deepEqual(seen, []);
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    await until(
      () => seen.length === 1,
      () => JSON.stringify(seen),
    );
    w.close();
  });

  it('waits for a directory that does not exist yet, then follows the file inside it', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'pkg', 'sub', 'mod.py');
    const { w, seen, errors } = watcher();
    await w.add([f]);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, 'first');
    await until(
      () => seen.length >= 1,
      () => `creation not seen: ${JSON.stringify(seen)}`,
    );
    const before = seen.length;
    await sleep(50);
    writeFileSync(f, 'second edit');
    await until(
      () => seen.length > before,
      () => `edit after creation not seen: ${JSON.stringify(seen)}`,
    );
    w.close();
    assert.deepEqual(errors, []);
    assert.ok(seen.every((s) => s === f));
  });

  it('follows a directory deleted and recreated (a checkout of a package)', async () => {
    const dir = freshDir();
    const pkg = path.join(dir, 'pkg');
    mkdirSync(pkg);
    const f = path.join(pkg, 'mod.py');
    writeFileSync(f, 'v1');
    const { w, seen } = watcher();
    await w.add([f]);
    rmSync(pkg, { recursive: true });
    mkdirSync(pkg);
    writeFileSync(f, 'v2 after checkout');
    await until(
      () => seen.length >= 1,
      () => 'replacement not seen',
    );
    await sleep(100);
    const before = seen.length;
    writeFileSync(f, 'v3 edited in the new directory');
    await until(
      () => seen.length > before,
      () => `edit in the new directory not seen: ${JSON.stringify(seen)}`,
    );
    w.close();
  });

  it('uses one kernel watch per directory for thousands of files, and close() releases them all', async () => {
    const baseline = inotifyWatches();
    const dirs = [freshDir(), freshDir(), freshDir(), freshDir()];
    const files = dirs.flatMap((d) => Array.from({ length: 500 }, (_, i) => path.join(d, `m${i}.py`)));
    for (const f of files.filter((_, i) => i % 2 === 0)) writeFileSync(f, 'x');
    const { w, seen } = watcher();
    const t0 = Date.now();
    await w.add(files);
    assert.ok(Date.now() - t0 < 2000, `adding 2000 files took ${Date.now() - t0} ms`);
    assert.equal(w.size, 2000);
    assert.equal(w.watchCount, 4);
    assert.equal(inotifyWatches() - baseline, 4);
    writeFileSync(files[1234]!, 'changed');
    await until(
      () => seen.length >= 1,
      () => 'change not seen',
    );
    await sleep(50);
    assert.deepEqual([...new Set(seen)], [files[1234]]);
    w.close();
    assert.equal(w.watchCount, 0);
    await until(
      () => inotifyWatches() === baseline,
      () => `${inotifyWatches() - baseline} kernel watches left open`,
    );
  });

  it('a file loaded before its watch began: an edit in between is a change, the loaded state itself is not', async () => {
    const dir = freshDir();
    const edited = path.join(dir, 'edited.py');
    const untouched = path.join(dir, 'untouched.py');
    writeFileSync(edited, 'x = 1\n');
    writeFileSync(untouched, 'y = 1\n');
    const editedAtLoad = identityOf(edited);
    const { w, seen } = watcher();
    writeFileSync(edited, 'x = 2, saved before the report arrived\n');
    w.loaded(edited, editedAtLoad);
    w.loaded(untouched, identityOf(untouched));
    await w.add([edited, untouched]);
    assert.deepEqual(seen, [edited]);
    w.close();
  });

  it('a second reader of a watched file: older code than on disk is a change, once; code a change was already reported from is not', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'shared.py');
    writeFileSync(f, 'v = 1\n');
    const v1 = identityOf(f);
    const { w, seen } = watcher();
    await w.add([f]);
    writeFileSync(f, 'v = 2, a longer line\n');
    await until(
      () => seen.length === 1,
      () => JSON.stringify(seen),
    );
    // A reader that loaded v1 is replaced by the reload that change asked for.
    w.loaded(f, v1);
    assert.equal(seen.length, 1);
    w.loaded(f, identityOf(f));
    assert.equal(seen.length, 1, 'the code on disk');
    // A reader that reports code this watcher never saw (loaded from an older file than the first report) runs stale code.
    w.loaded(f, '1:2:3');
    w.loaded(f, '1:2:3');
    assert.equal(seen.length, 2);
    w.close();
  });

  it('reports nothing after close()', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'e.py');
    writeFileSync(f, '1');
    const { w, seen } = watcher();
    await w.add([f]);
    w.close();
    writeFileSync(f, '22');
    await sleep(150);
    assert.deepEqual(seen, []);
    await w.add([path.join(dir, 'more.py')]);
    assert.equal(w.watchCount, 0, 'a closed watcher stays closed');
  });

  it('with the reloader machine: a burst of saves within the debounce is one reload', async () => {
    const dir = freshDir();
    const a = path.join(dir, 'app.py');
    const b = path.join(dir, 'models.py');
    writeFileSync(a, '0');
    writeFileSync(b, '0');
    const reloads: string[][] = [];
    let timer: NodeJS.Timeout | undefined;
    const actor = createActor(
      reloaderMachine.provide({
        actions: {
          startDebounce: () => {
            timer = setTimeout(() => actor.send({ type: 'DEBOUNCE_ELAPSED' }), 150);
          },
          cancelDebounce: () => clearTimeout(timer),
          requestReload: (_, { files }) => reloads.push(files),
          watchFiles: (_, { files }) => void w.add(files),
        },
      }),
    );
    const w = new FileWatcher((file) => actor.send({ type: 'CHANGED', file }));
    actor.start();
    actor.send({ type: 'WATCH', files: [a, b] });
    await sleep(50);
    for (let i = 1; i <= 5; i++) {
      writeFileSync(a, `${i}`);
      writeFileSync(path.join(dir, '.b.tmp'), `${i}`);
      renameSync(path.join(dir, '.b.tmp'), b);
      await sleep(10);
    }
    await until(
      () => reloads.length === 1,
      () => `reloads: ${JSON.stringify(reloads)}`,
    );
    await sleep(300);
    assert.equal(reloads.length, 1, 'one burst, one reload');
    assert.deepEqual([...reloads[0]!].sort(), [a, b].sort());
    actor.send({ type: 'STOP' });
    w.close();
  });
});
