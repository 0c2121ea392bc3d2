/**
 * User-facing errors: one line, a stable code, an exit code (undici-style).
 * The CLI prints `spawning: error: <message> [<code>]` and nothing else.
 */
import { ExitCode } from '../protocol/exit-codes.js';

export class SpawningError extends Error {
  readonly code: string = 'SPAWNING_ERR';
  readonly exitCode: number = ExitCode.CRASH;

  format(): string {
    return `spawning: error: ${this.message} [${this.code}]`;
  }
}

/** A bad flag, value or argument. */
export class ConfigError extends SpawningError {
  override readonly code = 'SPAWNING_ERR_CONFIG';
  override readonly exitCode = ExitCode.CONFIG_ERROR;
}

/** The listening socket cannot be bound. */
export class BindError extends SpawningError {
  override readonly code = 'SPAWNING_ERR_BIND';
  override readonly exitCode = ExitCode.CONFIG_ERROR;
}

/** A TLS certificate, key or option that cannot be used. */
export class TlsError extends SpawningError {
  override readonly code = 'SPAWNING_ERR_TLS';
  override readonly exitCode = ExitCode.CONFIG_ERROR;
}

/** The Python interpreter is missing or lacks a required package. */
export class PythonEnvError extends SpawningError {
  override readonly code = 'SPAWNING_ERR_PYTHON_ENV';
  override readonly exitCode = ExitCode.CONFIG_ERROR;
}

/** The WSGI app cannot be imported. */
export class AppLoadError extends SpawningError {
  override readonly code = 'SPAWNING_ERR_APP_LOAD';
  override readonly exitCode = ExitCode.APP_LOAD_ERROR;
}

/** A fleet command failed: NATS unreachable, no member answers, a host could not reload. */
export class FleetError extends SpawningError {
  override readonly code = 'SPAWNING_ERR_FLEET';
  override readonly exitCode = ExitCode.FLEET_ERROR;
}
