/**
 * SIGUSR2, the in-place upgrade of spawning itself (gunicorn's USR2): the
 * controller starts a successor from the installation as it is now on disk
 * (`process.argv[1]`, the same arguments and working directory), handing it
 * the listening sockets at fds 3… with SPAWNING_LISTEN_FDS, the way systemd
 * hands them. The successor reports its startup on a status pipe exactly as a
 * daemon reports to its launcher (src/runtime/daemon.ts): this controller
 * hands over once the line "spawning: ready" arrives, and keeps serving if
 * the pipe closes first (the successor failed: its error went to the shared
 * stderr) or nothing is ready in time.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { UPGRADE_FDNAMES_ENV, UPGRADE_FDS_ENV } from '../actors/handed-sockets.js';
import type { ListenSocket } from '../actors/listen-socket.js';
import { NOTIFY_SOCKET_ENV } from '../actors/sd-notify.js';
import { PUMP_PID_ENV, STATUS_FD_ENV } from './daemon.js';

/** How long a successor may take to serve before it is given up (and killed). */
export const SUCCESSOR_TIMEOUT_MS = 120_000;

export interface SuccessorSpec {
  argv: readonly string[];
  sockets: readonly ListenSocket[];
  names: readonly string[];
  /** The daemon's log pump, which the successor's SIGUSR1 must reach too. */
  pumpPid: number | null;
  notifySocket: string | null;
}

export interface Successor {
  pid: number;
  /** SIGTERM: the upgrade was called off (this controller is stopping). */
  stop(): void;
}

const READY = /^spawning: ready \(/m;

export function startSuccessor(spec: SuccessorSpec, on: { ready: (pid: number) => void; failed: (reason: string) => void }): Successor {
  const statusFd = 3 + spec.sockets.length;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [UPGRADE_FDS_ENV]: String(spec.sockets.length),
    [UPGRADE_FDNAMES_ENV]: spec.names.join(':'),
    [STATUS_FD_ENV]: String(statusFd),
  };
  if (spec.pumpPid !== null) env[PUMP_PID_ENV] = String(spec.pumpPid);
  if (spec.notifySocket !== null) env[NOTIFY_SOCKET_ENV] = spec.notifySocket;
  // Same process group and stdout/stderr: whoever watched this controller's output sees the successor's.
  const proc = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...spec.argv], {
    cwd: process.cwd(),
    env,
    stdio: ['ignore', 'inherit', 'inherit', ...spec.sockets.map((s) => s.fd), 'pipe'],
  });
  let settled = false;
  const settle = (ok: boolean, reason = ''): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    status?.destroy();
    if (ok) on.ready(proc.pid!);
    else on.failed(reason);
  };
  const timer = setTimeout(() => {
    proc.kill('SIGKILL');
    settle(false, `was not ready after ${SUCCESSOR_TIMEOUT_MS / 1000} s (killed)`);
  }, SUCCESSOR_TIMEOUT_MS);
  timer.unref();
  const status = proc.stdio[statusFd] as Readable | null;
  let text = '';
  status?.setEncoding('utf8');
  status?.on('data', (chunk: string) => {
    text += chunk;
    if (READY.test(text)) settle(true);
  });
  status?.on('error', () => {});
  proc.on('error', (err) => settle(false, `could not start: ${err.message}`));
  proc.on('exit', (code, signal) => settle(false, `exited (${signal ?? `code ${code}`}) before it was ready`));
  return {
    pid: proc.pid ?? 0,
    stop: () => {
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGTERM');
    },
  };
}
