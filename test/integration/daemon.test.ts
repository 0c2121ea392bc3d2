/**
 * --daemonize: the command returns once the daemon serves (or with its error
 * line and exit code); the daemon runs in its own session with the pidfile
 * naming it; --stdout/--stderr collect the server's and the app's output and,
 * like the access log, are reopened on SIGUSR1 after a rotation; everything
 * goes away on SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertOneLineError } from '../helpers/cli-errors.js';
import { killDaemonLeftovers, PRINTING_APP } from '../helpers/daemon.js';
import { identityOf, isAlive, pidsWithArgument } from '../helpers/processes.js';
import { request } from '../helpers/projects.js';
import { VENV_PYTHON } from '../helpers/repo.js';
import { runCli } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

describe('--daemonize', { timeout: 60_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-daemon-'));
    writeFileSync(path.join(dir, 'printapp.py'), PRINTING_APP);
  });
  after(() => {
    killDaemonLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  test('returns when ready; output files reopen on SIGUSR1; SIGTERM ends it all and removes the pidfile', async () => {
    const file = (name: string): string => path.join(dir, name);
    const args = ['--host', '127.0.0.1', '--port', '0', '--processes', '2', '--fronts', '2', '--python', VENV_PYTHON, '--daemonize', '--pidfile', file('d.pid')];
    const launched = await runCli([...args, '--stdout', 'out.log', '--stderr', 'err.log', '-l', 'access.log', 'printapp.app'], { cwd: dir });
    assert.equal(launched.code, 0, launched.stderr);
    assert.match(launched.stderr, /^spawning: listening on http:\/\/127\.0\.0\.1:\d+ .*\nspawning: ready \(2\/2 children\)\nspawning: daemon pid \d+\n$/);
    const pid = Number(read(file('d.pid')));
    assert.equal(launched.stderr.match(/daemon pid (\d+)/)![1], String(pid));
    assert.equal(identityOf(pid).sid, pid, 'the daemon leads its own session');
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(launched.stderr)![1]);

    assert.equal((await request(port, 'GET', '/one')).status, 200);
    await waitFor(() => read(file('out.log')).includes('app stdout /one') && read(file('access.log')).includes('/one'), 'the first request logged');
    assert.match(read(file('err.log')), /^spawning: listening on .*\nspawning: ready \(2\/2 children\)\n/);

    for (const name of ['out.log', 'err.log', 'access.log']) renameSync(file(name), file(`${name}.1`));
    process.kill(pid, 'SIGUSR1');
    // Each reopen is asynchronous: ask until a request lands in the new files.
    await waitFor(async () => {
      await request(port, 'GET', '/two');
      return read(file('out.log')).includes('app stdout /two') && read(file('err.log')).includes('app stderr /two') && read(file('access.log')).includes('/two');
    }, 'the files reopened', 10_000, 200);
    assert.match(read(file('out.log.1')), /app stdout \/one/, 'the rotated file keeps what was written before');

    const pump = pidsWithArgument(path.join(dir, 'out.log')).filter((p) => p !== pid);
    assert.equal(pump.length, 1, 'one log pump');
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !isAlive(pid) && !isAlive(pump[0]!), 'the daemon and its pump gone', 15_000);
    assert.equal(existsSync(file('d.pid')), false, 'pidfile left behind');
  });

  test('a daemon that cannot start: the launcher exits with its one error line and code', async () => {
    const args = ['--host', '127.0.0.1', '--port', '0', '--python', VENV_PYTHON, '--daemonize', '--stderr', 'fail.log', 'no_such_module_xyz.app'];
    const result = await runCli(args, { cwd: dir });
    assertOneLineError(result, 3, /No module named 'no_such_module_xyz'/);
    assert.match(read(path.join(dir, 'fail.log')), /SPAWNING_ERR_APP_LOAD/);
  });

  test('--stdout without --daemonize, and a --stdout it cannot open, are one line and exit 2', async () => {
    const base = ['--host', '127.0.0.1', '--port', '0', '--python', VENV_PYTHON];
    assertOneLineError(await runCli([...base, '--stdout', 'x.log', 'printapp.app'], { cwd: dir }), 2, /--stdout needs --daemonize/);
    assertOneLineError(await runCli([...base, '-d', '--stdout', '/nonexistent/x.log', 'printapp.app'], { cwd: dir }), 2, /cannot open --stdout \/nonexistent\/x\.log: ENOENT/);
  });
});
