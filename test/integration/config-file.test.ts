/**
 * --config, --check-config and --print-config through the real CLI: a server
 * configured by a TOML file and the environment, and the exit codes of a
 * check (0 good, 2 configuration, 3 the app cannot load) without serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { assertOneLineError } from '../helpers/cli-errors.js';
import { VENV_PYTHON } from '../helpers/repo.js';
import { killAllServers, runCli, startServer } from '../helpers/server.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spawning-config-'));
after(() => {
  killAllServers();
  rmSync(dir, { recursive: true, force: true });
});

function toml(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('a server configured by a file, with the environment and the command line over it', async () => {
  const file = toml('serve.toml', 'app = "integration_apps:hello"\nprocesses = 2\nthreads = 3\nfronts = 2\naccess-log-file = "/dev/null"\n');
  const server = await startServer({ args: ['--config', file, '--processes', '1'], env: { SPAWNING_THREADS: '5' } });
  assert.match(server.stderr(), /listening on http:\/\/127\.0\.0\.1:\d+ \(pid \d+, 1 processes × 5 threads, 1 front\)/);
  assert.equal(await (await fetch(`${server.url}/`)).text(), 'Hello, world!');
  await server.stop();
});

test('--check-config: 0 when everything loads, without serving', async () => {
  const file = toml('ok.toml', 'app = "integration_apps:hello"\nport = 1\n');
  const r = await runCli(['--config', file, '--check-config', '--python', VENV_PYTHON]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^spawning: configuration OK: integration_apps:hello loads with \S+python; would serve 0\.0\.0\.0:1 with 4 processes$/m);
  assert.doesNotMatch(r.stderr, /listening on/);
});

test('--check-config: 3 when the app cannot load, 2 for a bad setting or an unknown key', async () => {
  const broken = await runCli(['--check-config', '--python', VENV_PYTHON, 'broken_syntax:app']);
  assertOneLineError(broken, 3, /cannot load app 'broken_syntax:app'.*SyntaxError|cannot load app 'broken_syntax:app'/);
  const missing = await runCli(['--check-config', '--python', VENV_PYTHON, 'integration_apps:no_such_app']);
  assertOneLineError(missing, 3, /no_such_app/);
  const unknown = toml('unknown.toml', 'app = "integration_apps:hello"\nmax-mem = "1G"\n');
  assertOneLineError(await runCli(['--config', unknown, '--check-config']), 2, new RegExp(`unknown setting 'max-mem' in ${unknown}`));
  assertOneLineError(await runCli(['--check-config', '--python', VENV_PYTHON, 'integration_apps:hello'], { env: { SPAWNING_PROCESSES: '0' } }), 2, /invalid value for processes in \$SPAWNING_PROCESSES/);
});

test('--print-config: every effective setting and its source', async () => {
  const file = toml('print.toml', 'app = "integration_apps:hello"\nmax-memory = "512M"\n');
  const r = await runCli(['--config', file, '--print-config', '--port', '9000'], { env: { SPAWNING_THREADS: '2' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^port = 9000 +# command line$/m);
  assert.match(r.stdout, /^threads = 2 +# environment SPAWNING_THREADS$/m);
  assert.match(r.stdout, new RegExp(`^max-memory = 536870912 +# file ${file}$`, 'm'));
  assert.match(r.stdout, /^host = "0\.0\.0\.0" +# default$/m);
});
