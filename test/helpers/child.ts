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
import { CHILD_ENTRY, PYTHON_PACKAGE_DIR } from '../../src/paths.js';
import { FIXTURES_DIR, VENV_PYTHON } from './repo.js';
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

/** Starts a child serving test/fixtures (child_apps.app unless `overrides` say otherwise); its access log goes into `dir`. */
export async function startChild(dir: string, overrides: Partial<ChildConfig> = {}): Promise<RunningChild> {
  const listen = await openListenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0, path: null }, 128);
  const accessLog = path.join(dir, `access-${process.pid}-${++serial}.log`);
  const config: ChildConfig = {
    args: ['child_apps.app'],
    factory: 'spawning.wsgi_factory.config_factory',
    python: VENV_PYTHON,
    threads: 4,
    green: 'gevent',
    maxGreen: 1000,
    maxQueue: 1024,
    timeout: 0,
    processes: 1,
    backlog: 128,
    host: '127.0.0.1',
    port: listen.port,
    unixPath: null,
    keepalive: true,
    keepaliveTimeout: 5,
    headersTimeout: 10,
    maxHeaderSize: 8192,
    maxBodySize: 4 * 1024 * 1024,
    accessLog,
    deadmanTimeout: 10,
    statsInterval: 100,
    reload: null,
    pythonPath: [PYTHON_PACKAGE_DIR, FIXTURES_DIR],
    inspect: null,
    coverageDir: null,
    forwardedAllowIps: ['127.0.0.1'],
    scriptName: '',
    accessLogFormat: null,
    ...overrides,
  };
  const proc = spawn(process.execPath, [CHILD_ENTRY], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', listen.fd] });
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
