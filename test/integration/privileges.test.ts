/**
 * As root (skipped otherwise): --chuid drops privileges after binding, so a
 * port below 1024 is served by a controller, children and Python workers that
 * all run as the new user; the pidfile root wrote is handed over and removed
 * on exit; a daemon's log pump runs as that user too, so the dropped
 * controller can still have it reopen the files on SIGUSR1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { descendants, identityOf, isAlive } from '../helpers/processes.js';
import { request, venvLinking } from '../helpers/projects.js';
import { killAllServers, runCli, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { killDaemonLeftovers, PRINTING_APP } from '../helpers/daemon.js';

const isRoot = process.getuid?.() === 0;

/** A free port below 1024, which only root may bind. */
async function privilegedPort(): Promise<number> {
  for (let port = 700; port < 1024; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer().once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 1024');
}

describe('--chuid and --pidfile as root', { skip: !isRoot && 'needs root', timeout: 60_000 }, () => {
  let dir: string;
  let nobody: { uid: number; gid: number };
  /** The system's interpreter: the repository's venv links to one under /root, which nobody may not run. */
  let python: string;

  before(() => {
    nobody = { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) };
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-chuid-'));
    chmodSync(dir, 0o755); // the app is imported by nobody
    writeFileSync(path.join(dir, 'printapp.py'), PRINTING_APP);
    python = venvLinking(path.join(dir, 'venv'), ['msgpack'], '/usr/bin/python3');
    // Where nobody may create and remove files: the pidfile, rotated logs.
    mkdirSync(path.join(dir, 'run'));
    chownSync(path.join(dir, 'run'), nobody.uid, nobody.gid);
  });
  after(() => {
    killAllServers();
    killDaemonLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  test('binds a privileged port as root, then everything runs as nobody; the pidfile is handed over and removed', async () => {
    const port = await privilegedPort();
    const pidfile = path.join(dir, 'run', 'app.pid');
    const server = await startServer({ address: ['--host', '127.0.0.1', '--port', String(port)], args: ['--python', python, '--processes', '2', '-l', '/dev/null', '--chuid', 'nobody', '--pidfile', pidfile, 'printapp.app'], cwd: dir });
    try {
      const res = await request(port, 'GET', '/');
      assert.equal(res.status, 200);
      assert.equal(res.body, String(nobody.uid), 'the app runs as nobody');
      const controller = server.proc.pid!;
      for (const pid of [controller, ...descendants(controller).map((p) => p.pid)]) {
        const id = identityOf(pid);
        assert.deepEqual(new Set(id.uids), new Set([nobody.uid]), `process ${pid} uids ${id.uids}`);
        assert.deepEqual(new Set(id.gids), new Set([nobody.gid]), `process ${pid} gids ${id.gids}`);
      }
      assert.equal(readFileSync(pidfile, 'utf8'), `${controller}\n`);
      assert.equal(statSync(pidfile).uid, nobody.uid, 'the pidfile is handed over');
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
    assert.equal(existsSync(pidfile), false, 'pidfile left behind');
  });

  test('--daemonize --chuid: the dropped controller still has its log pump reopen the files', async () => {
    const run = path.join(dir, 'run');
    const file = (name: string): string => path.join(run, name);
    const args = ['--host', '127.0.0.1', '--port', '0', '--processes', '1', '--python', python, '--chuid', 'nobody', '-d', '--pidfile', file('d.pid'), '--stdout', file('out.log'), '--stderr', file('err.log'), 'printapp.app'];
    const launched = await runCli(args, { cwd: dir });
    assert.equal(launched.code, 0, launched.stderr);
    const pid = Number(readFileSync(file('d.pid'), 'utf8'));
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(launched.stderr)![1]);
    try {
      await request(port, 'GET', '/one');
      renameSync(file('err.log'), file('err.log.1'));
      process.kill(pid, 'SIGUSR1');
      await waitFor(async () => {
        await request(port, 'GET', '/two');
        return existsSync(file('err.log')) && readFileSync(file('err.log'), 'utf8').includes(`app stderr /two uid=${nobody.uid}`);
      }, 'err.log reopened', 10_000, 200);
      assert.equal(statSync(file('err.log')).uid, nobody.uid);
    } finally {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !isAlive(pid), 'the daemon gone', 15_000);
    }
    assert.equal(existsSync(file('d.pid')), false);
  });
});
