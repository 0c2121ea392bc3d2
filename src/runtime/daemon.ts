/**
 * `--daemonize`: the command returns once the daemon serves, or fails with
 * the daemon's own error line and exit code, so scripts can rely on it.
 *
 * The foreground process (the launcher) starts the daemon detached (its own
 * session, stdin closed) with a status pipe on fd 3: the daemon copies its log
 * lines there until it is ready, then closes it. With --stdout/--stderr the
 * daemon's output goes through a log pump (src/runtime/log-pump.ts) that
 * reopens the files on SIGUSR1.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Identity } from '../actors/privileges.js';
import { ConfigError } from '../errors.js';

export const STATUS_FD_ENV = 'SPAWNING_DAEMON_STATUS_FD';
export const PUMP_PID_ENV = 'SPAWNING_LOG_PUMP_PID';
const LOG_PUMP_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'log-pump.js');
const READY = /^spawning: ready \(/;

export interface DaemonFiles {
  stdout: string | null;
  stderr: string | null;
}

/** Opens (creating) each file now, so a bad path is one line in the foreground. */
function checkWritable(files: DaemonFiles, identity: Identity | null): void {
  for (const [flag, file] of [['--stdout', files.stdout], ['--stderr', files.stderr]] as const) {
    if (file === null) continue;
    try {
      fs.closeSync(fs.openSync(file, 'a', 0o644));
      if (identity) fs.chownSync(file, identity.uid, identity.gid);
    } catch (err) {
      throw new ConfigError(`cannot open ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
}

/** In the launcher: starts the daemon and resolves with the exit code for the foreground command. */
export async function launchDaemon(argv: readonly string[], files: DaemonFiles, identity: Identity | null): Promise<number> {
  checkWritable(files, identity);
  let pump: ChildProcess | null = null;
  const stdio: StdioOptions = ['ignore', 'ignore', 'ignore', 'pipe'];
  if (files.stdout !== null || files.stderr !== null) {
    // Under --chuid the pump runs as that user too, so the dropped controller may signal it.
    pump = spawn(process.execPath, [LOG_PUMP_ENTRY, files.stdout ?? '', files.stderr ?? ''], {
      stdio: [files.stdout ? 'pipe' : 'ignore', 'ignore', 'ignore', files.stderr ? 'pipe' : 'ignore'],
      detached: true,
      ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
    });
    if (files.stdout) stdio[1] = pump.stdin!;
    if (files.stderr) stdio[2] = pump.stdio[3] as Readable;
  }
  const daemon = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    stdio,
    detached: true,
    env: { ...process.env, [STATUS_FD_ENV]: '3', [PUMP_PID_ENV]: String(pump?.pid ?? '') },
  });
  if (pump) {
    // Only the daemon's side may hold the pipes: the pump ends when the daemon's last process does.
    pump.stdin?.destroy();
    (pump.stdio[3] as Readable | null)?.destroy();
    pump.unref();
  }
  const exited = once(daemon, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let ready = false;
  let pending = '';
  const status = daemon.stdio[3] as Readable;
  status.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    status.on('data', (text: string) => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        process.stderr.write(line + '\n');
        if (READY.test(line)) {
          ready = true;
          resolve();
        }
      }
    });
    status.on('close', () => resolve());
    void exited.then(() => resolve());
  });
  if (ready) {
    process.stderr.write(`spawning: daemon pid ${daemon.pid}\n`);
    status.destroy();
    daemon.unref();
    return 0;
  }
  const [code] = await exited;
  return code ?? 1;
}

/** In the daemon: where its startup log lines are copied until it is ready; null when not a daemon. */
export function daemonStatus(): { tee: (line: string) => void; pumpPid: number | null } | null {
  const fd = process.env[STATUS_FD_ENV];
  if (fd === undefined) return null;
  const pumpPid = Number(process.env[PUMP_PID_ENV]) || null;
  // Not for the processes the daemon starts.
  delete process.env[STATUS_FD_ENV];
  delete process.env[PUMP_PID_ENV];
  let open = true;
  return {
    pumpPid,
    tee: (line) => {
      if (!open) return;
      try {
        fs.writeSync(Number(fd), line + '\n');
      } catch {
        open = false; // the launcher is gone
      }
      if (open && READY.test(line)) {
        fs.closeSync(Number(fd));
        open = false;
      }
    },
  };
}
