/** Checks that need more than one flag, or the file system, before anything starts. */
import { accessSync, constants, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError, PythonEnvError } from '../errors.js';
import type { ParsedArgs } from './parse-args.js';
import { SETTINGS } from './settings.js';

export const DEFAULT_FACTORY = 'spawning.wsgi_factory.config_factory';
const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export interface Listen {
  kind: 'tcp' | 'unix';
  host: string;
  port: number;
  path: string | null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir || '.', name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** --python, else $VIRTUAL_ENV/bin/python, else ./.venv/bin/python, else python3. */
export function resolvePython(given: string | null, cwd = process.cwd()): string {
  if (given !== null) {
    const resolved = given.includes('/') ? path.resolve(cwd, given) : onPath(given);
    if (resolved === null || !existsSync(resolved)) throw new PythonEnvError(`--python ${given}: no such interpreter`);
    if (!isExecutable(resolved)) throw new PythonEnvError(`--python ${given}: not executable`);
    return resolved;
  }
  const venv = process.env.VIRTUAL_ENV;
  const candidates = [venv ? path.join(venv, 'bin', 'python') : null, path.join(cwd, '.venv', 'bin', 'python')];
  for (const c of candidates) if (c && isExecutable(c)) return c;
  const python3 = onPath('python3');
  if (python3) return python3;
  throw new PythonEnvError('no Python interpreter found: activate a virtualenv, create ./.venv, or pass --python PATH');
}

export function validateApp(parsed: ParsedArgs): void {
  const { settings, args } = parsed;
  if (settings.factory !== DEFAULT_FACTORY) return; // other factories read (and check) their own arguments
  if (args.length === 0) throw new ConfigError('no WSGI application given: expected module.app (see spawning --help)');
  for (const name of args) {
    const [module, attr, extra] = name.split(':');
    const ok = extra === undefined && (attr === undefined ? DOTTED.test(module!) && module!.includes('.') : DOTTED.test(module!) && DOTTED.test(attr));
    if (!ok) throw new ConfigError(`'${name}' is not a Python name like module.app or module:app`);
  }
}

export function listenAddress(parsed: ParsedArgs): Listen {
  const { bind, host, port } = parsed.settings;
  if (bind?.startsWith('unix:')) return { kind: 'unix', host: 'localhost', port: 0, path: path.resolve(bind.slice(5)) };
  if (bind) {
    const i = bind.lastIndexOf(':');
    return { kind: 'tcp', host: bind.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(bind.slice(i + 1)), path: null };
  }
  return { kind: 'tcp', host, port, path: null };
}

/** The status service must not take the service's own port. */
export function validateStatusPort(parsed: ParsedArgs, listen: Listen): void {
  const { statusPort } = parsed.settings;
  if (statusPort === null || statusPort === 0 || listen.kind !== 'tcp' || listen.port === 0) return;
  if (statusPort === listen.port) throw new ConfigError(`--status-port ${statusPort} is the port the application is served on; choose another port for the status service`);
}

/**
 * Node fronts for `processes` Python workers: as given (never more than the
 * workers), else one per two workers and at most one per core: a front feeds
 * about two busy workers, and a front feeding more spreads its requests so
 * thin that each costs more (ARCHITECTURE.md "Fronts and workers").
 */
export function frontCount(processes: number, given: number | null, cores = availableParallelism()): number {
  if (given !== null) return Math.min(given, processes);
  return Math.max(1, Math.min(Math.ceil(processes / 2), cores));
}
