/**
 * Running real `spawning` processes for tests: `startServer` waits until every
 * child is ready and tells the port; `runCli` runs one to completion (bad
 * inputs). Servers left running when a test file ends are killed with their
 * whole process group, so a failing test cannot leak workers into the next.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { NodeReport } from '../../protocol/fleet-messages.js';
import { FIXTURES_DIR, SPAWNING_BIN, VENV_PYTHON } from './repo.js';

export interface StartOptions {
  /** Flags and positionals after the defaults (`--host 127.0.0.1 --port 0 --python .venv/bin/python`). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Working directory; the worker imports the app from here. Default: test/fixtures. */
  cwd?: string;
  /** Replace `--host 127.0.0.1 --port 0` (e.g. for `--bind unix:…`). */
  address?: string[];
  readyTimeoutMs?: number;
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningServer {
  /** TCP port, or 0 when serving a Unix socket. */
  port: number;
  /** What the controller printed after "listening on", e.g. `http://127.0.0.1:41234`. */
  url: string;
  proc: ChildProcess;
  /** Everything written so far. */
  stderr: () => string;
  stdout: () => string;
  /** Resolves when a stderr line matches. */
  waitForStderr: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<ExitResult>;
  exited: Promise<ExitResult>;
}

const LISTENING = /^spawning: listening on (\S+) \(/m;
/** Same number of children ready as configured. */
const ALL_READY = /^spawning: ready \((\d+)\/\1 children\)/m;

const running = new Set<ChildProcess>();

/** Kills the whole group, even after the controller itself exited: children it left behind are still in it. */
function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

process.on('exit', () => {
  for (const proc of running) killGroup(proc);
});

/** Kills every server this test file started; call from `after()`. */
export function killAllServers(): void {
  for (const proc of running) killGroup(proc);
}

function launch(args: string[], env: NodeJS.ProcessEnv | undefined, cwd: string | undefined): ChildProcess {
  const proc = spawn(process.execPath, [SPAWNING_BIN, ...args], {
    cwd: cwd ?? FIXTURES_DIR,
    env: { ...process.env, PYTHONUNBUFFERED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so cleanup reaches children and workers too.
    detached: true,
  });
  running.add(proc);
  proc.on('exit', () => running.delete(proc));
  return proc;
}

function exitOf(proc: ChildProcess): Promise<ExitResult> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  }
  return once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const address = options.address ?? ['--host', '127.0.0.1', '--port', '0'];
  const proc = launch([...address, '--python', VENV_PYTHON, ...options.args], options.env, options.cwd);
  let stderr = '';
  let stdout = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of [...waiters]) {
      const m = w.pattern.exec(stderr);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m[0]);
      }
    }
  });
  const exited = exitOf(proc);

  const waitForStderr = (pattern: RegExp, timeoutMs = 15_000): Promise<string> => {
    const m = pattern.exec(stderr);
    if (m) return Promise.resolve(m[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(entry), 1);
        reject(new Error(`timed out waiting for stderr ${pattern}; stderr so far:\n${stderr}`));
      }, timeoutMs);
      const entry = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.push(entry);
    });
  };

  const readyOrExit = await Promise.race([
    waitForStderr(ALL_READY, options.readyTimeoutMs ?? 20_000).then(() => null),
    exited.then((r) => r),
  ]).catch((err: Error) => {
    killGroup(proc);
    throw err;
  });
  if (readyOrExit !== null) {
    throw new Error(`spawning exited (code ${readyOrExit.code}, signal ${readyOrExit.signal}) before ready; stderr:\n${stderr}`);
  }
  const listening = LISTENING.exec(stderr);
  if (!listening) {
    killGroup(proc);
    throw new Error(`no "listening on" line in stderr:\n${stderr}`);
  }
  const url = listening[1]!;
  const portMatch = /^https?:\/\/[^/]*:(\d+)/.exec(url);

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitResult> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => killGroup(proc), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
      // Whatever the controller left behind must not outlive the test.
      killGroup(proc);
    }
  };

  return {
    port: portMatch ? Number(portMatch[1]) : 0,
    url,
    proc,
    stderr: () => stderr,
    stdout: () => stdout,
    waitForStderr,
    stop,
    exited,
  };
}

export interface CliResult extends ExitResult {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs spawning to completion (it is expected to exit by itself). */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  const proc = launch(args, options.env, options.cwd);
  let stderr = '';
  let stdout = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => killGroup(proc), options.timeoutMs ?? 20_000);
  // 'close', not 'exit': it waits until stdout and stderr are read to the end.
  const closed = once(proc, 'close');
  const result = await exitOf(proc);
  killGroup(proc); // leftovers of the group would hold the pipes open
  await closed;
  clearTimeout(timer);
  return { ...result, stdout, stderr, ms: Date.now() - started };
}

/** `spawning fleet status --json` with these NATS and fleet flags: the members, or a failed assertion carrying its stderr. */
export async function fleetMembers(flags: string[], options: { timeoutMs?: number } = {}): Promise<NodeReport[]> {
  const r = await runCli(['fleet', 'status', '--json', ...flags], options);
  assert.equal(r.code, 0, `fleet status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as NodeReport[];
}
