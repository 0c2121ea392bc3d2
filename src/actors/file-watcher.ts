/**
 * Watches a growing set of files, robust to how editors and tools save:
 *
 * - rename-over (vim, atomic writers: a temp file renamed onto the target):
 *   the inode changes, so a watch on the file itself would go deaf. We watch
 *   the parent directory instead and filter events by basename, which also
 *   makes thousands of files cheap (one fs.watch per directory).
 * - truncate-and-write, appends, several files at once: every event is
 *   checked against the file's identity (inode, size, mtime in ns), so the
 *   spurious and duplicate events fs.watch delivers are dropped and only a
 *   real difference is reported.
 * - a file that does not exist yet, or whose directory does not: the nearest
 *   existing ancestor is watched until the directory appears; its creation
 *   counts as a change. A deleted file is a change too.
 * - the directory itself deleted or replaced (a `git checkout` of a package):
 *   the kernel watch dies with the old inode, so the watch is re-armed on the
 *   new directory and every file in it is re-checked.
 *
 * - a file whose reader loaded it some time before the watch began (a Python
 *   worker reports each import up to a second later): `loaded()` gives the
 *   identity the reader saw, so an edit saved in between is a change rather
 *   than the starting state. A reader still running an identity that a change
 *   was already reported from is covered by that change and reports nothing.
 *
 * Watchers are not persistent: they never keep the process alive by themselves.
 */
import { watch, statSync, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** inode:size:mtime in ns (the worker builds the same string: python/spawning/module_files.py), or null for a file that does not exist. */
type Identity = string | null;

/** Before a file's first stat completes; events in that window are part of its starting state. */
const UNKNOWN = Symbol('unknown');

async function identity(file: string): Promise<Identity> {
  try {
    const s = await stat(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return null;
  }
}

function inodeOf(dir: string): bigint | null {
  const s = statSync(dir, { bigint: true, throwIfNoEntry: false });
  return s?.isDirectory() ? s.ino : null;
}

interface DirWatch {
  /** The directory holding the watched files. */
  dir: string;
  /** Basenames of the watched files in `dir`. */
  names: Set<string>;
  watcher: FSWatcher | null;
  /** `dir` itself, or its nearest existing ancestor while `dir` does not exist. */
  watching: string;
  /** Inode of `dir` when the watch was armed on it; a different one means it was replaced. */
  ino: bigint | null;
}

export class FileWatcher {
  readonly #dirs = new Map<string, DirWatch>();
  readonly #seen = new Map<string, Identity | typeof UNKNOWN>();
  /** Identities readers loaded, for files whose first stat has not come back yet. */
  readonly #loaded = new Map<string, string>();
  /** Identities a change was reported from, per file. */
  readonly #superseded = new Map<string, Set<string>>();
  /** Files being stat'ed now, and whether another event arrived meanwhile. */
  readonly #checking = new Map<string, boolean>();
  readonly #onChange: (file: string) => void;
  readonly #onError: (line: string) => void;
  #closed = false;

  /** `onError` gets one line for a directory that cannot be watched (permissions, inotify limits). */
  constructor(onChange: (file: string) => void, onError: (line: string) => void = (line) => process.stderr.write(line + '\n')) {
    this.#onChange = onChange;
    this.#onError = onError;
  }

  /** How many files are watched. */
  get size(): number {
    return this.#seen.size;
  }

  /** How many kernel watches are open (one per directory, whatever the number of files). */
  get watchCount(): number {
    let n = 0;
    for (const d of this.#dirs.values()) if (d.watcher) n++;
    return n;
  }

  /** Adds files (relative paths resolve against the cwd); resolves once their starting state is known. */
  async add(files: Iterable<string>): Promise<void> {
    if (this.#closed) return;
    const fresh: string[] = [];
    for (const raw of files) {
      const file = path.resolve(raw);
      if (this.#seen.has(file)) continue;
      this.#seen.set(file, UNKNOWN);
      fresh.push(file);
      const dir = path.dirname(file);
      let entry = this.#dirs.get(dir);
      if (!entry) {
        entry = { dir, names: new Set(), watcher: null, watching: dir, ino: null };
        this.#dirs.set(dir, entry);
        this.#arm(entry);
      }
      entry.names.add(path.basename(file));
    }
    // The watch is armed before the first stat, so no change after add() resolves can slip through.
    await Promise.all(
      fresh.map(async (file) => {
        const id = await identity(file);
        if (this.#closed || this.#seen.get(file) !== UNKNOWN) return;
        this.#seen.set(file, id);
        const loaded = this.#loaded.get(file);
        this.#loaded.delete(file);
        if (loaded !== undefined && loaded !== id) this.#changed(file, loaded, id);
      }),
    );
  }

  /**
   * A reader loaded `file` when its identity was `loaded`. Call it before `add()` for a file not
   * watched yet; for a watched file, an identity that is neither the current one nor one a change
   * was reported from means the reader runs code that is not on disk: a change.
   */
  loaded(file: string, loaded: string): void {
    if (this.#closed) return;
    file = path.resolve(file);
    const seen = this.#seen.get(file);
    if (seen === undefined || seen === UNKNOWN) {
      if (!this.#loaded.has(file)) this.#loaded.set(file, loaded);
    } else if (loaded !== seen && !this.#superseded.get(file)?.has(loaded)) {
      this.#changed(file, loaded, seen);
    }
  }

  /** Stops every watch; no callback runs after this returns. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#dirs.values()) {
      entry.watcher?.close();
      entry.watcher = null;
    }
    this.#dirs.clear();
  }

  #arm(entry: DirWatch, attempt = 0): void {
    entry.watcher?.close();
    entry.watcher = null;
    let at = entry.dir;
    while (inodeOf(at) === null) {
      const up = path.dirname(at);
      if (up === at) return; // not even the root exists: nothing to watch
      at = up;
    }
    entry.watching = at;
    entry.ino = at === entry.dir ? inodeOf(at) : null;
    let watcher: FSWatcher;
    try {
      watcher = watch(at, { persistent: false }, (_event, name) => this.#onEvent(entry, name === null ? null : String(name)));
    } catch (err) {
      // Deleted between the stat and the watch: look again, a level up.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) return this.#arm(entry, attempt + 1);
      this.#onError(`spawning: cannot watch ${at}: ${(err as Error).message} [SPAWNING_ERR_WATCH]`);
      return;
    }
    entry.watcher = watcher;
    // A watch dies with its directory (deleted, or unmounted): look again.
    watcher.on('error', () => {
      if (entry.watcher === watcher) this.#rearm(entry);
    });
  }

  #onEvent(entry: DirWatch, name: string | null): void {
    if (this.#closed || this.#dirs.get(entry.dir) !== entry) return;
    if (entry.watching !== entry.dir) {
      // Watching an ancestor: only the next path component toward our directory matters.
      const next = path.relative(entry.watching, entry.dir).split(path.sep)[0];
      if (name === null || name === next) this.#rearm(entry);
      return;
    }
    // Linux reports the watched directory's own deletion or move under its own name, and the kernel
    // watch dies with it. Re-arm even when the inode looks the same: a directory deleted and made
    // again at once (a checkout) often gets the very same inode number back.
    // Some platforms give no name at all: then only a different inode tells.
    if (name === path.basename(entry.dir) || (name === null && inodeOf(entry.dir) !== entry.ino)) {
      this.#rearm(entry);
      return;
    }
    if (name === null) {
      for (const n of entry.names) this.#check(path.join(entry.dir, n));
    } else if (entry.names.has(name)) {
      this.#check(path.join(entry.dir, name));
    }
  }

  /** Re-arms the watch where the directory now is, then re-checks its files: they may have changed unseen meanwhile. */
  #rearm(entry: DirWatch): void {
    if (this.#closed) return;
    this.#arm(entry);
    for (const n of entry.names) this.#check(path.join(entry.dir, n));
  }

  #changed(file: string, from: Identity, to: Identity): void {
    this.#seen.set(file, to);
    if (from !== null) {
      const old = this.#superseded.get(file) ?? new Set<string>();
      old.add(from);
      this.#superseded.set(file, old);
    }
    this.#onChange(file);
  }

  #check(file: string): void {
    if (this.#checking.has(file)) {
      this.#checking.set(file, true);
      return;
    }
    this.#checking.set(file, false);
    void identity(file).then((now) => {
      const again = this.#checking.get(file) === true;
      this.#checking.delete(file);
      if (this.#closed) return;
      const before = this.#seen.get(file);
      if (before !== UNKNOWN && before !== undefined && now !== before) this.#changed(file, before, now);
      if (again) this.#check(file);
    });
  }
}
