/**
 * SIGUSR2, the in-place upgrade of spawning itself, against real processes
 * under keep-alive load: the successor controller serves on the same socket
 * before the old one drains, so no request fails; the pidfile and systemd's
 * MAINPID follow the successor; and a successor that cannot start leaves the
 * old controller serving as before.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { percentile, startLoad, stopAllLoads, type LoadReport } from '../helpers/load.js';
import { childPids, isAlive } from '../helpers/processes.js';
import { killAllServers, startServer } from '../helpers/server.js';
import { listenForNotify, type NotifyListener } from '../helpers/systemd.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spawning-upgrade-'));
const listeners: NotifyListener[] = [];
/** Process groups of the servers started here: a successor stays in its predecessor's group after that one exits. */
const groups: number[] = [];

after(async () => {
  await stopAllLoads();
  killAllServers();
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const l of listeners) l.close();
  rmSync(dir, { recursive: true, force: true });
});

const APP = `
import os


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"served by " + str(os.getppid()).encode()]
`;

const readPid = (file: string): number => Number(readFileSync(file, 'utf8'));

const okAfter = (report: LoadReport, more: number): Promise<boolean> => {
  const target = report.ok + more;
  return waitFor(() => report.ok >= target, `${more} more answered requests`, 30_000);
};

test('USR2 under load: the successor serves first, the old controller drains and exits 0, no request fails', async (t) => {
  const cwd = mkdtempSync(path.join(dir, 'ok-'));
  writeFileSync(path.join(cwd, 'upgrade_app.py'), APP);
  const pidfile = path.join(cwd, 'spawning.pid');
  const notify = await listenForNotify(cwd);
  listeners.push(notify);
  const server = await startServer({
    cwd,
    args: ['--processes', '2', '--fronts', '2', '--pidfile', pidfile, '--access-log-file', '/dev/null', 'upgrade_app:app'],
    env: { NOTIFY_SOCKET: notify.path },
  });
  const old = server.proc.pid!;
  groups.push(old);
  assert.equal(readPid(pidfile), old);
  await notify.waitFor(/^READY=1$/);
  const load = startLoad(server.port, '/', 16);
  await okAfter(load.report, 300);
  server.proc.kill('SIGUSR2');
  const exit = await server.exited;
  assert.equal(exit.code, 0, server.stderr());
  const successor = readPid(pidfile);
  assert.notEqual(successor, old);
  assert.ok(isAlive(successor));
  // The successor's children answer now (a body names the worker's parent: a child, whose parent is the successor).
  const fronts = childPids(successor);
  assert.equal(fronts.length, 2);
  await waitFor(() => fronts.every((pid) => load.report.bodies.has(`served by ${pid}`)), "responses from each of the successor's children");
  await okAfter(load.report, 300);
  const report = await load.stop();
  t.diagnostic(`${report.sent} requests, ${report.failed} failed, p99 ${percentile(report.latencies, 99).toFixed(0)} ms, max ${percentile(report.latencies, 100).toFixed(0)} ms`);
  assert.equal(report.failed, 0, `failed: ${JSON.stringify([...report.reasons])}`);
  assert.match(server.stderr(), /spawning: upgraded: controller \d+ is serving; this one \(pid \d+\) drains and exits/);
  assert.match(server.stderr(), /socket from the controller it replaces/);
  // systemd learns the new main pid from the successor, and the old controller never says STOPPING.
  await notify.waitFor(new RegExp(`^MAINPID=${successor}\\nREADY=1$`));
  assert.deepEqual(notify.messages, ['READY=1', `MAINPID=${successor}\nREADY=1`]);
  process.kill(successor, 'SIGTERM');
  await waitFor(() => !isAlive(successor), 'the successor to stop');
  await notify.waitFor(/^STOPPING=1$/);
});

test('USR2 when the successor cannot start: the old controller keeps serving and keeps the pidfile', async (t) => {
  const cwd = mkdtempSync(path.join(dir, 'broken-'));
  writeFileSync(path.join(cwd, 'upgrade_app.py'), APP);
  const pidfile = path.join(cwd, 'spawning.pid');
  const server = await startServer({ cwd, args: ['--processes', '1', '--pidfile', pidfile, '--access-log-file', '/dev/null', 'upgrade_app:app'] });
  groups.push(server.proc.pid!);
  const load = startLoad(server.port, '/', 8);
  await okAfter(load.report, 200);
  // The new installation cannot even import the app.
  writeFileSync(path.join(cwd, 'upgrade_app.py'), 'def app(:\n');
  server.proc.kill('SIGUSR2');
  await server.waitForStderr(/spawning: upgrade failed: the new controller exited \(code 3\) before it was ready; this one keeps serving/);
  await okAfter(load.report, 200);
  const report = await load.stop();
  t.diagnostic(`${report.sent} requests, ${report.failed} failed`);
  assert.equal(report.failed, 0, `failed: ${JSON.stringify([...report.reasons])}`);
  assert.equal(readPid(pidfile), server.proc.pid);
  assert.equal(server.proc.exitCode, null);
  // And a later upgrade, once the installation is fixed, goes through.
  writeFileSync(path.join(cwd, 'upgrade_app.py'), APP);
  server.proc.kill('SIGUSR2');
  assert.equal((await server.exited).code, 0);
  assert.notEqual(readPid(pidfile), server.proc.pid);
  process.kill(readPid(pidfile), 'SIGTERM');
});
