/** Where things are, for tests running from dist/test/…: found by walking up to package.json. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'protocol'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no repository root above ${start}`);
    dir = parent;
  }
}

export const REPO_ROOT = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
export const FIXTURES_DIR = path.join(REPO_ROOT, 'test', 'fixtures');
export const SPAWNING_BIN = path.join(REPO_ROOT, 'bin', 'spawning.js');
export const VENV_PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
