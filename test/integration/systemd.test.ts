/**
 * systemd, for real where it runs here: sockets handed by Debian's
 * `systemd-socket-activate` (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), served
 * through restarts of the controller under load; and the readiness messages
 * (NOTIFY_SOCKET) received on a real Unix datagram socket.
 *
 * systemd-socket-activate starts its program once; a small shell loop in its
 * place does what systemd does on `systemctl restart` with Restart=always:
 * it holds the sockets and starts the service again, with LISTEN_PID set to
 * the new process.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { percentile, startLoad, stopAllLoads, type LoadReport } from '../helpers/load.js';
import { descendants, isAlive } from '../helpers/processes.js';
import { FIXTURES_DIR, REPO_ROOT, SPAWNING_BIN, VENV_PYTHON } from '../helpers/repo.js';
import { killAllServers, startServer } from '../helpers/server.js';
import { freePort, listenForNotify, type NotifyListener } from '../helpers/systemd.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spawning-systemd-'));
const groups = new Set<ChildProcess>();
const listeners: NotifyListener[] = [];

after(async () => {
  await stopAllLoads();
  killAllServers();
  for (const g of groups) {
    try {
      process.kill(-g.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const l of listeners) l.close();
  rmSync(dir, { recursive: true, force: true });
});

/** systemd's Restart=always in three lines: the sockets stay open in this shell while its service comes and goes. */
const RESTART_LOOP = 'while :; do sh -c \'LISTEN_PID=$$; export LISTEN_PID; exec "$@"\' service "$@"; done';

interface Activated {
  stderr: () => string;
  pidfile: string;
  /** The pid the service's pidfile names now. */
  pid: () => number;
  readyCount: () => number;
}

async function activate(port: number, unixPath: string, extra: string[] = []): Promise<Activated> {
  const pidfile = path.join(dir, `spawning-${port}.pid`);
  const proc = spawn(
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, '-l', unixPath, '--fdname=http:local', '-E', 'PATH', '-E', 'PYTHONUNBUFFERED=1', '--', 'sh', '-c', RESTART_LOOP, 'loop',
      process.execPath, SPAWNING_BIN, '--python', VENV_PYTHON, '--processes', '2', '--fronts', '2', '--pidfile', pidfile, '--access-log-file', '/dev/null', ...extra, 'integration_apps.hello'],
    { cwd: FIXTURES_DIR, stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  groups.add(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await waitFor(() => /Listening on .* as 4\./.test(stderr), `systemd-socket-activate to listen; stderr: ${stderr}`);
  const readyCount = (): number => stderr.match(/^spawning: ready \(2\/2 children\)/gm)?.length ?? 0;
  return {
    stderr: () => stderr,
    pidfile,
    pid: () => {
      try {
        return Number(readFileSync(pidfile, 'utf8'));
      } catch {
        return 0;
      }
    },
    readyCount,
  };
}

function get(target: { port: number } | { path: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(target as net.NetConnectOpts);
    let data = '';
    sock.on('connect', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    sock.setEncoding('utf8').on('data', (d: string) => (data += d));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

const okAfter = (report: LoadReport, more: number): Promise<boolean> => {
  const target = report.ok + more;
  return waitFor(() => report.ok >= target, `${more} more answered requests`, 30_000);
};

test('sockets from systemd-socket-activate are served, and a graceful restart under load fails no request', async (t) => {
  const port = await freePort();
  const service = await activate(port, path.join(dir, 'graceful.sock'));
  // The first connection is what activates the service; it waits in the backlog meanwhile.
  assert.match(await get({ port }), /^HTTP\/1\.1 200 OK[\s\S]*Hello, world!$/);
  await waitFor(() => service.readyCount() === 1, 'the first controller to be ready');
  assert.match(service.stderr(), /spawning: listening on http:\/\/127\.0\.0\.1:\d+ unix:\S+graceful\.sock \(pid \d+, .*sockets from systemd\)/);
  assert.match(await get({ path: path.join(dir, 'graceful.sock') }), /Hello, world!$/);

  const load = startLoad(port, '/', 16);
  await okAfter(load.report, 300);
  for (let restart = 1; restart <= 2; restart++) {
    const old = service.pid();
    process.kill(old, 'SIGTERM'); // what `systemctl restart` sends first
    await waitFor(() => service.readyCount() === restart + 1 && service.pid() !== old, `controller #${restart + 1} to be ready`, 30_000);
    assert.equal(isAlive(old), false);
    await okAfter(load.report, 300);
  }
  const report = await load.stop();
  t.diagnostic(`${report.sent} requests, ${report.failed} failed, p99 ${percentile(report.latencies, 99).toFixed(0)} ms, max ${percentile(report.latencies, 100).toFixed(0)} ms`);
  assert.equal(report.failed, 0, `failed requests: ${JSON.stringify([...report.reasons])}`);
});

test('a hard restart (the whole service SIGKILLed) refuses no connection: only requests in flight are lost', async (t) => {
  const port = await freePort();
  const service = await activate(port, path.join(dir, 'hard.sock'));
  await get({ port });
  await waitFor(() => service.readyCount() === 1, 'the first controller to be ready');
  const load = startLoad(port, '/', 16);
  await okAfter(load.report, 300);
  const old = service.pid();
  // KillMode=control-group with SIGKILL: the controller, its children and their workers at once.
  for (const pid of [old, ...descendants(old).map((p) => p.pid)]) process.kill(pid, 'SIGKILL');
  await waitFor(() => service.readyCount() === 2, 'the restarted controller to be ready', 30_000);
  await okAfter(load.report, 300);
  const report = await load.stop();
  t.diagnostic(`${report.sent} requests, ${report.failed} failed (${JSON.stringify([...report.reasons])}), max ${percentile(report.latencies, 100).toFixed(0)} ms`);
  const refused = report.reasons.get('ECONNREFUSED') ?? 0;
  assert.equal(refused, 0);
  // Each of the 16 connections had at most one request in flight when its server was killed.
  assert.ok(report.failed <= 16, `failed requests: ${JSON.stringify([...report.reasons])}`);
  for (const reason of report.reasons.keys()) assert.match(reason, /ECONNRESET|socket hang up|EPIPE/);
});

test('NOTIFY_SOCKET: READY=1 once serving, RELOADING=1 and READY=1 around a reload, STOPPING=1', async () => {
  const notify = await listenForNotify(dir);
  listeners.push(notify);
  const server = await startServer({ args: ['--processes', '1', 'integration_apps.hello'], env: { NOTIFY_SOCKET: notify.path } });
  await notify.waitFor(/^READY=1$/);
  assert.deepEqual(notify.messages, ['READY=1']);
  server.proc.kill('SIGHUP');
  await server.waitForStderr(/reloaded: generation 2 is serving/);
  await notify.waitFor(/^READY=1$/, 2);
  assert.equal(notify.messages.length, 3);
  assert.match(notify.messages[1]!, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
  // The clock systemd compares it with: CLOCK_MONOTONIC, as /proc/uptime counts it (seconds).
  const usec = Number(/MONOTONIC_USEC=(\d+)/.exec(notify.messages[1]!)![1]);
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  assert.ok(Math.abs(usec / 1e6 - uptime) < 60, `MONOTONIC_USEC ${usec} against uptime ${uptime}`);
  const exit = await server.stop('SIGTERM');
  assert.equal(exit.code, 0);
  await notify.waitFor(/^STOPPING=1$/);
  assert.deepEqual(notify.messages.slice(3), ['STOPPING=1']);
});

test('examples/systemd units pass systemd-analyze verify', () => {
  const units = path.join(dir, 'units');
  mkdirSync(units);
  for (const unit of ['spawning.socket', 'spawning.service']) {
    const text = readFileSync(path.join(REPO_ROOT, 'examples', 'systemd', unit), 'utf8');
    // verify checks that ExecStart's program exists; here it is the checkout's.
    writeFileSync(path.join(units, unit), text.replace('/usr/bin/spawning', SPAWNING_BIN));
  }
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', 'spawning.socket', 'spawning.service'], { cwd: units, encoding: 'utf8' });
  assert.equal(result.stderr, '');
  assert.equal(result.status, 0);
  const service = readFileSync(path.join(units, 'spawning.service'), 'utf8');
  for (const hardening of ['DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillMode=mixed', 'Type=notify']) {
    assert.ok(service.includes(`\n${hardening}\n`), hardening);
  }
});
