/**
 * Every bad input ends spawning with one line on stderr that says what and
 * where, a stable code, and exit 2 (configuration) or 3 (app cannot load);
 * never a JavaScript stack or a Python traceback.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VENV_PYTHON } from '../helpers/repo.js';
import { assertOneLineError } from '../helpers/cli-errors.js';
import { runCli } from '../helpers/server.js';

const serve = (...rest: string[]): string[] => ['--host', '127.0.0.1', '--port', '0', '--processes', '2', '--python', VENV_PYTHON, ...rest];

describe('bad inputs', { concurrency: 4, timeout: 120_000 }, () => {
  let dir: string;
  let bareVenvPython: string;
  let busy: net.Server;
  let busyPort: number;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-it-bad-'));
    // An interpreter without msgpack: a venv made without pip has nothing installed.
    execFileSync('python3', ['-m', 'venv', '--without-pip', path.join(dir, 'bare')]);
    bareVenvPython = path.join(dir, 'bare', 'bin', 'python');
    busy = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    busyPort = (busy.address() as net.AddressInfo).port;
  });
  after(() => {
    busy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('missing module: exit 3', async () => {
    assertOneLineError(await runCli(serve('no_such_module_xyz.app')), 3, /no_such_module_xyz/);
  });

  test('missing attribute: exit 3', async () => {
    assertOneLineError(await runCli(serve('integration_apps:no_such_attribute')), 3, /no_such_attribute/);
  });

  test('app that raises on import: exit 3, says what it raised and where', async () => {
    assertOneLineError(await runCli(serve('broken_raises_on_import.app')), 3, /fixture-import-failure.*broken_raises_on_import\.py:\d+|broken_raises_on_import\.py:\d+.*fixture-import-failure/);
  });

  test('syntax error: exit 3, says where', async () => {
    assertOneLineError(await runCli(serve('broken_syntax.app')), 3, /SyntaxError.*broken_syntax\.py:4|broken_syntax\.py:4.*SyntaxError/);
  });

  test('unknown flag: exit 2', async () => {
    assertOneLineError(await runCli(serve('--no-such-flag', 'integration_apps:app')), 2, /--no-such-flag/);
  });

  test('bad value: exit 2', async () => {
    assertOneLineError(await runCli(serve('--threads', 'many', 'integration_apps:app')), 2, /--threads/);
  });

  test('missing app argument: exit 2', async () => {
    assertOneLineError(await runCli(serve()), 2, /app/i);
  });

  test('--python without msgpack: exit 2, names the interpreter and the package', async () => {
    const args = ['--host', '127.0.0.1', '--port', '0', '--python', bareVenvPython, 'integration_apps:app'];
    assertOneLineError(await runCli(args), 2, /msgpack/);
  });

  test('port in use: exit 2', async () => {
    const args = ['--host', '127.0.0.1', '--port', String(busyPort), '--python', VENV_PYTHON, 'integration_apps:app'];
    assertOneLineError(await runCli(args), 2, new RegExp(String(busyPort)));
  });
});
