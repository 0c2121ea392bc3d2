/** The --pidfile: written after the socket is bound, removed on exit. */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

export class Pidfile {
  constructor(readonly path: string) {}

  write(pid: number): void {
    try {
      writeFileSync(this.path, `${pid}\n`);
    } catch (err) {
      throw new ConfigError(`cannot write --pidfile ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  /** Removes the file if it is still ours. */
  remove(pid: number): void {
    try {
      if (readFileSync(this.path, 'utf8').trim() === String(pid)) unlinkSync(this.path);
    } catch {
      // already gone, or no longer ours to remove
    }
  }
}
