/**
 * Asks Python for the factory's config before the socket is bound:
 * `python -m spawning.config_probe` runs the same config_factory the workers
 * will run and prints what the controller needs (server settings a Paste
 * ini's [server:main] carries, files to watch) as one JSON line. Its errors
 * end startup with the same one line and exit code a worker's would.
 */
import { execFile } from 'node:child_process';
import type { LoadError } from '../../protocol/worker-messages.js';
import { PythonEnvError, type SpawningError } from '../errors.js';
import type { Identity } from './privileges.js';
import { pythonEnv } from './python-worker.js';

/** Settings a factory's config may carry, under the controller's names. */
export interface FactoryServerSettings {
  host?: string;
  port?: number;
  processes?: number;
  threads?: number;
}

export interface FactoryConfig {
  server: FactoryServerSettings;
  /** Files the config depends on (the ini, the settings module), watched under --reload=dev. */
  watch: string[];
}

type ProbeAnswer = { ok: true; server: FactoryServerSettings; watch: string[] } | { ok: false; error: LoadError };

export interface ProbeOptions {
  python: string;
  pythonPath: readonly string[];
  options: Record<string, unknown>;
  /** --chuid: the factory runs as the user the workers will run as. */
  identity: Identity | null;
  /** Turns a load error into the error the controller exits with. */
  describe: (error: LoadError) => SpawningError;
  timeoutMs?: number;
  /** Also import the app through the factory (--check-config). */
  loadApp?: boolean;
}

export function probeFactoryConfig(opts: ProbeOptions): Promise<FactoryConfig> {
  const args = ['-m', 'spawning.config_probe', '--options-json', JSON.stringify(opts.options), ...(opts.loadApp ? ['--load-app'] : [])];
  return new Promise((resolve, reject) => {
    execFile(
      opts.python,
      args,
      {
        env: pythonEnv(opts.pythonPath),
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 4 << 20,
        ...(opts.identity ? { uid: opts.identity.uid, gid: opts.identity.gid } : {}),
      },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        let answer: ProbeAnswer | null = null;
        try {
          answer = line ? (JSON.parse(line) as ProbeAnswer) : null;
        } catch {
          answer = null;
        }
        if (answer?.ok) return resolve({ server: answer.server, watch: answer.watch });
        if (answer) return reject(opts.describe(answer.error));
        const why = err?.killed ? `timed out after ${(opts.timeoutMs ?? 60_000) / 1000} s` : stderr.trim().split('\n').pop() || err?.message || 'no answer';
        reject(new PythonEnvError(`${opts.python} could not run the factory's config probe: ${why}`));
      },
    );
  });
}
