/**
 * systemd's readiness protocol (sd_notify(3)): READY=1 once the first
 * generation serves, RELOADING=1 and READY=1 around a reload, STOPPING=1, and
 * MAINPID= when a successor takes over (SIGUSR2). Node has no Unix datagram
 * sockets, so one small Python helper (python/spawning/sd_notify.py, run by
 * the interpreter spawning already uses) sends them for the controller's life.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const NOTIFY_SOCKET_ENV = 'NOTIFY_SOCKET';

export interface Notifier {
  /** The socket it sends to, for a successor controller to send to as well. */
  socket: string;
  send(...fields: string[]): void;
  close(): void;
}

/** CLOCK_MONOTONIC in microseconds, which RELOADING=1 carries (uv_hrtime reads that clock). */
export function monotonicUsec(): string {
  return String(process.hrtime.bigint() / 1000n);
}

/**
 * Null without $NOTIFY_SOCKET. The variable is removed from this process's
 * environment, so neither the children nor the app mistake it for theirs.
 */
export function startNotifier(python: string, pythonPath: string[], log: (line: string) => void): Notifier | null {
  const socket = process.env[NOTIFY_SOCKET_ENV];
  delete process.env[NOTIFY_SOCKET_ENV];
  if (!socket) return null;
  const helper: ChildProcess = spawn(python, ['-m', 'spawning.sd_notify'], {
    stdio: ['pipe', 'ignore', 'inherit'],
    env: { ...process.env, [NOTIFY_SOCKET_ENV]: socket, PYTHONPATH: pythonPath.join(':') },
  });
  let alive = true;
  helper.on('exit', () => (alive = false));
  helper.on('error', (err) => {
    alive = false;
    log(`spawning: cannot start the systemd notifier: ${err.message}`);
  });
  helper.stdin!.on('error', () => (alive = false));
  helper.unref();
  (helper.stdin as unknown as { unref?: () => void }).unref?.();
  return {
    socket,
    send: (...fields) => {
      if (alive) helper.stdin!.write(`${JSON.stringify(fields.join('\n'))}\n`);
    },
    close: () => helper.stdin!.end(),
  };
}
