/**
 * Watches a growing set of files, robust to how editors save: rename-over
 * (a temp file renamed onto the target: the inode changes, so a watch on the
 * file itself goes deaf), truncate-and-write, several files at once. One
 * fs.watch per directory, filtered by name; a change counts only when the
 * file's identity (inode, size, mtime) differs from what was last seen.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

type Identity = string | null;

async function identity(file: string): Promise<Identity> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return null;
  }
}

export class FileWatcher {
  readonly #dirs = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
  readonly #seen = new Map<string, Identity>();
  readonly #onChange: (file: string) => void;
  #closed = false;

  constructor(onChange: (file: string) => void) {
    this.#onChange = onChange;
  }

  get size(): number {
    return this.#seen.size;
  }

  async add(files: Iterable<string>): Promise<void> {
    for (const raw of files) {
      const file = path.resolve(raw);
      if (this.#seen.has(file) || this.#closed) continue;
      this.#seen.set(file, await identity(file));
      const dir = path.dirname(file);
      let entry = this.#dirs.get(dir);
      if (!entry) {
        let watcher: FSWatcher;
        try {
          watcher = watch(dir, { persistent: false }, (_event, name) => this.#onEvent(dir, name));
        } catch (err) {
          process.stderr.write(`spawning: cannot watch ${dir}: ${(err as Error).message}\n`);
          continue;
        }
        watcher.on('error', () => {});
        entry = { watcher, names: new Set() };
        this.#dirs.set(dir, entry);
      }
      entry.names.add(path.basename(file));
    }
  }

  #onEvent(dir: string, name: string | Buffer | null): void {
    const entry = this.#dirs.get(dir);
    if (!entry) return;
    // Some platforms give no name: check every watched file of the directory.
    const names = name ? [String(name)] : [...entry.names];
    for (const n of names) {
      if (!entry.names.has(n)) continue;
      const file = path.join(dir, n);
      void identity(file).then((now) => {
        if (this.#closed || now === this.#seen.get(file)) return;
        this.#seen.set(file, now);
        this.#onChange(file);
      });
    }
  }

  close(): void {
    this.#closed = true;
    for (const { watcher } of this.#dirs.values()) watcher.close();
    this.#dirs.clear();
  }
}
