/**
 * spawning as a user installs it: `npm pack` of the working tree (in a copy,
 * so its prepack build never rewrites the dist/ other tests are running), then
 * `npm install -g` of the tarball into a temporary prefix; and fresh
 * virtualenvs holding only what an app needs.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './repo.js';

export interface Installed {
  /** The copy of the working tree that was packed (its python/ is what `pip install ./python` installs). */
  tree: string;
  tarball: string;
  /** `PREFIX/bin/spawning`. */
  bin: string;
  prefix: string;
  /** Where npm put the package: `PREFIX/lib/node_modules/spawning`. */
  packageDir: string;
}

const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

/** Packs the working tree (tracked and new files, not ignored ones) and installs the tarball into `dir/prefix`. */
export function packAndInstall(dir: string): Installed {
  const tree = path.join(dir, 'tree');
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO_ROOT).split('\0').filter(Boolean);
  for (const f of files) {
    const from = path.join(REPO_ROOT, f);
    try {
      mkdirSync(path.dirname(path.join(tree, f)), { recursive: true });
      cpSync(from, path.join(tree, f));
    } catch {
      // deleted in the working tree but not yet in the index
    }
  }
  // prepack runs tsc: the copy borrows the checkout's devDependencies.
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  run('npm', ['pack', '--silent', '--pack-destination', dir], tree);
  const tarball = path.join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  const prefix = path.join(dir, 'prefix');
  // --prefer-offline: the checkout's `npm ci` filled the cache with the same locked versions.
  run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], dir);
  return { tree, tarball, bin: path.join(prefix, 'bin', 'spawning'), prefix, packageDir: path.join(prefix, 'lib', 'node_modules', 'spawning') };
}

/**
 * A new virtualenv at `dir` with only `packages` (from PyPI, through pip's
 * cache): made without its own pip, which the checkout's pip fills instead
 * (`pip --python`), to save ensurepip's seconds.
 */
export function makeVenv(dir: string, packages: string[]): string {
  execFileSync('python3', ['-m', 'venv', '--without-pip', dir], { stdio: 'pipe' });
  const python = path.join(dir, 'bin', 'python');
  execFileSync(path.join(REPO_ROOT, '.venv', 'bin', 'python'), ['-m', 'pip', '--python', python, 'install', '--quiet', '--disable-pip-version-check', ...packages], {
    stdio: 'pipe',
  });
  return python;
}
