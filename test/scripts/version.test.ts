/** package.json holds spawning's one version; the Python package's _version.py is written from it (scripts/sync-version.mjs). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, VENV_PYTHON } from '../helpers/repo.js';

test('python/spawning/_version.py is package.json\'s version (run node scripts/sync-version.mjs after changing it)', () => {
  const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const python = execFileSync(VENV_PYTHON, ['-c', 'import spawning; print(spawning.__version__)'], { encoding: 'utf8', cwd: path.join(REPO_ROOT, 'python') });
  assert.equal(python.trim(), version);
});
