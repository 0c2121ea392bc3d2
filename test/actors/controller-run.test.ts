/**
 * The whole controller, end to end: `node bin/spawning.js` with real children
 * and real Python workers serving test/fixtures/controller_apps.py. Checks the
 * two stderr lines scripts wait for, the pidfile, Unix sockets, a child that
 * dies being replaced, load errors ending in exit 3, and SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES_DIR, SPAWNING_BIN, VENV_PYTHON } from '../helpers/repo.js';
import { killAllServers, startServer } from '../helpers/server.js';

interface Reply {
  status: number;
  body: string;
}

function get(target: { port?: number; socketPath?: string }, urlPath = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', ...target, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** Runs spawning until it exits by itself; waits for 'close' so no stderr is missed. */
async function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [SPAWNING_BIN, '--python', VENV_PYTHON, ...args], { cwd: FIXTURES_DIR, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const [code] = (await once(proc, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stderr };
}

const childPidOf = (body: string): number => Number(/\(child (\d+)\)/.exec(body)![1]);

describe('controller end to end', { concurrency: 4, timeout: 90_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-controller-'));
  });
  after(() => {
    killAllServers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves on port 0, prints the exact listening and ready lines, writes the pidfile, stops on SIGTERM', async () => {
    const pidfile = path.join(dir, 'spawning.pid');
    const server = await startServer({ args: ['--processes', '2', '--fronts', '2', '--threads', '3', '-l', '/dev/null', '--pidfile', pidfile, 'controller_apps.hello'] });
    const pid = server.proc.pid!;
    const lines = server.stderr().trimEnd().split('\n');
    assert.equal(lines[0], `spawning: listening on http://127.0.0.1:${server.port} (pid ${pid}, 2 processes × 3 threads, 2 fronts)`);
    assert.equal(lines[1], 'spawning: ready (2/2 children)');
    assert.equal(readFileSync(pidfile, 'utf8'), `${pid}\n`);

    const children = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const reply = await get({ port: server.port });
      assert.equal(reply.status, 200);
      assert.match(reply.body, /^hello from worker \d+ \(child \d+\)\n$/);
      children.add(childPidOf(reply.body));
    }
    assert.ok(children.size >= 1 && children.size <= 2);

    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    assert.equal(existsSync(pidfile), false, 'pidfile left behind');
    for (const child of children) assert.throws(() => process.kill(child, 0), { code: 'ESRCH' }, `child ${child} outlived the controller`);
    await assert.rejects(get({ port: server.port }), { code: 'ECONNREFUSED' });
  });

  it('serves a Unix socket and removes it on exit', async () => {
    const sock = path.join(dir, 'app.sock');
    const server = await startServer({ address: ['--bind', `unix:${sock}`], args: ['--processes', '1', '-l', '/dev/null', 'controller_apps.hello'] });
    assert.equal(server.url, `unix:${sock}`);
    assert.match(server.stderr(), new RegExp(`^spawning: listening on unix:${sock} \\(pid \\d+, 1 processes × 4 threads, 1 front\\)$`, 'm'));
    const reply = await get({ socketPath: sock });
    assert.equal(reply.status, 200);
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    assert.equal(existsSync(sock), false);
  });

  it('replaces a child that dies, logging the exit and the restart, and keeps serving', async () => {
    const server = await startServer({ args: ['--processes', '1', '-l', '/dev/null', 'controller_apps.hello'] });
    const victim = childPidOf((await get({ port: server.port })).body);
    process.kill(victim, 'SIGKILL');
    await server.waitForStderr(new RegExp(`^spawning: child ${victim} \\(slot 0\\) exited unexpectedly \\(SIGKILL\\)$`, 'm'));
    await server.waitForStderr(/^spawning: restarting slot 0 in 100 ms$/m);
    // The replacement serves; requests made meanwhile wait in the backlog instead of failing.
    const reply = await get({ port: server.port });
    assert.equal(reply.status, 200);
    assert.notEqual(childPidOf(reply.body), victim);
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
  });

  it('a module that cannot be imported ends startup with one line and exit 3', async () => {
    const { code, stderr } = await runToExit(['--host', '127.0.0.1', '--port', '0', '--processes', '2', 'controller_apps_missing.app']);
    assert.equal(code, 3, stderr);
    const errors = stderr.split('\n').filter((l) => l.startsWith('spawning: error'));
    assert.deepEqual(errors, ["spawning: error: cannot load app 'controller_apps_missing.app': No module named 'controller_apps_missing' [SPAWNING_ERR_APP_LOAD]"]);
    assert.doesNotMatch(stderr, /spawning: ready/);
  });

  it('a missing attribute names the module file', async () => {
    const { code, stderr } = await runToExit(['--host', '127.0.0.1', '--port', '0', '--processes', '1', 'controller_apps:nope']);
    assert.equal(code, 3, stderr);
    assert.match(stderr, /^spawning: error: cannot load app 'controller_apps:nope': .*nope.* \(.*controller_apps\.py.*\) \[SPAWNING_ERR_APP_LOAD\]$/m);
  });
});
