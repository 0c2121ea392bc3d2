/**
 * The npm package as a user gets it: packed from this tree, installed into a
 * temporary prefix, and run from an unrelated directory whose own `.venv`
 * holds only Flask and msgpack (from PyPI): the worker package ships inside
 * the npm package, so the app's interpreter needs nothing of spawning's. And
 * a Paste deployment: `pip install ./python` into the app's venv registers
 * `egg:Spawning`, which runs the installed command for the ini.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeVenv, packAndInstall, type Installed } from '../helpers/package.js';
import { makePasteProject } from '../helpers/projects.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spawning-package-'));
const project = path.join(dir, 'project');
let installed: Installed;
const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const pasteDir = path.join(dir, 'paste');

before(() => {
  installed = packAndInstall(dir);
  makeVenv(path.join(project, '.venv'), ['Flask', 'msgpack']);
  makeVenv(path.join(pasteDir, '.venv'), ['PasteDeploy', path.join(installed.tree, 'python')]);
  writeFileSync(
    path.join(project, 'shop.py'),
    `import sys
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return f"flask from {sys.executable}; worker {sys.modules['spawning'].__file__}"
`,
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('the tarball holds the build and the worker, and no tests or benchmarks', () => {
  const names = execFileSync('tar', ['tzf', installed.tarball], { encoding: 'utf8' }).split('\n');
  assert.ok(names.includes('package/dist/src/cli.js'));
  assert.ok(names.includes('package/python/spawning/worker.py'));
  assert.ok(names.includes('package/src/status/page/status.html'));
  const unwanted = names.filter((n) => /^package\/(dist\/)?(test|scripts)\/|bench|tests\/|\.map$|__pycache__/.test(n));
  assert.deepEqual(unwanted, []);
});

test('one version: spawning --version and the shipped Python package say package.json\'s', () => {
  assert.equal(execFileSync(installed.bin, ['--version'], { encoding: 'utf8' }), `spawning ${version}\n`);
  const python = execFileSync(path.join(project, '.venv', 'bin', 'python'), ['-c', 'import spawning; print(spawning.__version__)'], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: path.join(installed.packageDir, 'python') },
  });
  assert.equal(python.trim(), version);
});

test("installed spawning serves a Flask app from another directory with that directory's .venv", async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(installed.prefix, 'bin')}:${process.env.PATH}` };
  delete env.VIRTUAL_ENV;
  delete env.PYTHONPATH;
  const proc = spawn('spawning', ['--host', '127.0.0.1', '--port', '0', '--processes', '1', 'shop:app'], { cwd: project, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    const url = await waitFor(() => /^spawning: ready/m.test(stderr) && /listening on (http:\S+)/.exec(stderr)?.[1], `ready; stderr: ${stderr}`, 30_000);
    const body = await (await fetch(`${url}/`)).text();
    assert.equal(body, `flask from ${path.join(project, '.venv', 'bin', 'python')}; worker ${path.join(installed.packageDir, 'python', 'spawning', '__init__.py')}`);
  } finally {
    if (proc.exitCode === null) process.kill(-proc.pid!, 'SIGKILL');
  }
});

test('Paste: pip install ./python registers egg:Spawning, and loadserver (what pserve runs) serves the ini with the installed spawning', async () => {
  const ini = makePasteProject(pasteDir, 'num_processes = 1\nthreadpool_workers = 2');
  const python = path.join(pasteDir, '.venv', 'bin', 'python');
  const installedPython = execFileSync(python, ['-c', 'import spawning; print(spawning.__version__, spawning.__file__)'], { encoding: 'utf8' });
  assert.match(installedPython, new RegExp(`^${version.replace(/\./g, '\\.')} .*site-packages/spawning/__init__\\.py\n$`));
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(installed.prefix, 'bin')}:${process.env.PATH}` };
  delete env.VIRTUAL_ENV;
  delete env.SPAWNING_BIN;
  const script = "from paste.deploy import loadapp, loadserver; uri = 'config:' + __import__('sys').argv[1]; loadserver(uri)(loadapp(uri))";
  const proc = spawn(python, ['-c', script, ini], { cwd: pasteDir, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    const url = await waitFor(() => /^spawning: ready/m.test(stderr) && /listening on (http:\S+)/.exec(stderr)?.[1], 'the Paste server to be ready', 30_000);
    assert.equal(await (await fetch(`${url}/`)).text(), 'HELLO WORLD EXTRA=NONE MULTITHREAD=TRUE');
  } finally {
    if (proc.exitCode === null) process.kill(-proc.pid!, 'SIGKILL');
  }
  assert.match(stderr, /1 processes × 2 threads/);
});
