/**
 * A real child process (dist/src/runtime/child.js) with its real Python worker,
 * started the way the controller starts it: control channel on fd 3, a
 * listening socket bound by openListenSocket (the controller's own code) on fd 4.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { ChildConfig, FromChild, ToChild } from '../../protocol/control-messages.js';
import { openListenSocket, type ListenSocket } from '../../src/actors/listen-socket.js';
import { FramedChannel } from '../../src/ipc/framed-channel.js';
import type { Settings } from '../../src/config/settings.js';
import { CHILD_ENTRY } from '../../src/paths.js';
import { testChildConfig } from './child-config.js';
import { waitFor } from './wait.js';

export interface RunningChild {
  proc: ChildProcess;
  control: FramedChannel<FromChild, ToChild>;
  listen: ListenSocket;
  port: number;
  messages: FromChild[];
  stderr: () => string;
  exit: Promise<number | null>;
  accessLog: string;
  /** Resolves with the n-th (1-based) message of type `t`. */
  message<T extends FromChild['t']>(t: T, nth?: number): Promise<Extract<FromChild, { t: T }>>;
  stop(): Promise<void>;
}

let serial = 0;

/**
 * Starts a child serving test/fixtures (child_apps.app unless `overrides` say otherwise), configured from the settings table; its access log goes into `dir`.
 * `ipc`: with Node's IPC channel too, as the controller starts it (connection hand-offs; `proc.send` and `proc.on('message')`).
 */
export async function startChild(dir: string, settings: Partial<Settings> = {}, overrides: Partial<ChildConfig> = {}, { ipc = false } = {}): Promise<RunningChild> {
  const listen = await openListenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0, path: null }, 128);
  const accessLog = path.join(dir, `access-${process.pid}-${++serial}.log`);
  const config = testChildConfig({ accessLogFile: accessLog, ...settings }, { port: listen.port, ...overrides });
  const proc = spawn(process.execPath, [CHILD_ENTRY], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', listen.fd, ...(ipc ? ['ipc' as const] : [])] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout!.resume();
  const control = new FramedChannel<FromChild, ToChild>(proc.stdio[3] as Socket);
  const messages: FromChild[] = [];
  control.on('message', (m) => messages.push(m));
  const exit = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  control.send({ t: 'start', config, generation: 1, slot: 0 });
  const child: RunningChild = {
    proc,
    control,
    listen,
    port: listen.port,
    messages,
    stderr: () => stderr,
    exit,
    accessLog,
    message: async (t, nth = 1) =>
      waitFor(() => messages.filter((m) => m.t === t)[nth - 1] as Extract<FromChild, { t: typeof t }> | undefined, `control message ${t} #${nth}`, 15_000),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exit;
      await listen.close();
    },
  };
  return child;
}
