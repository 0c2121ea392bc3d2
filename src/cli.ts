/** `spawning [options] module.app [middleware ...]` */
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeFactoryConfig } from './actors/config-probe.js';
import { openListenSocket } from './actors/listen-socket.js';
import { Pidfile } from './actors/pidfile.js';
import { assertRunnableAs, dropPrivileges, handOver, resolveIdentity } from './actors/privileges.js';
import { workerOptions } from './actors/python-worker.js';
import { applyFactorySettings } from './config/factory-settings.js';
import { helpText, parseArgs } from './config/parse-args.js';
import { listenAddress, rejectUnavailable, resolvePython, validateApp } from './config/validate.js';
import { ConfigError, SpawningError } from './errors.js';
import { PACKAGE_ROOT, PYTHON_PACKAGE_DIR } from './paths.js';
import { describeLoadError, loadErrorExitCode, runController } from './runtime/controller.js';
import { daemonStatus, launchDaemon } from './runtime/daemon.js';
import { startReloader } from './runtime/reloader.js';

/** --daemonize: in the daemon, its startup lines also go to the launcher waiting in the foreground. */
const daemon = daemonStatus();

const log = (line: string): void => {
  process.stderr.write(line + '\n');
  daemon?.tee(line);
};

function version(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Undone if startup fails after the socket is bound (a Unix socket file, the pidfile). */
const undoOnError: Array<() => Promise<void> | void> = [];

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  const { settings } = parsed;
  if (settings.help) {
    process.stdout.write(helpText(version()));
    return 0;
  }
  if (settings.version) {
    process.stdout.write(`spawning ${version()}\n`);
    return 0;
  }
  rejectUnavailable(parsed);
  if (!settings.daemonize && (settings.stdout !== null || settings.stderr !== null)) {
    throw new ConfigError(`${settings.stdout !== null ? '--stdout' : '--stderr'} needs --daemonize (in the foreground, redirect the output instead)`);
  }
  if (settings.daemonize && daemon === null) {
    const files = { stdout: settings.stdout && path.resolve(settings.stdout), stderr: settings.stderr && path.resolve(settings.stderr) };
    return launchDaemon(argv, files, settings.chuid ? resolveIdentity(settings.chuid) : null);
  }
  validateApp(parsed);
  const python = resolvePython(settings.python);
  const identity = settings.chuid ? resolveIdentity(settings.chuid) : null;
  if (identity) assertRunnableAs(python, identity);
  // --coverage: the workers' data files; the controller owns the directory and removes it on exit.
  const coverageDir = settings.coverage ? mkdtempSync(path.join(tmpdir(), 'spawning-coverage-')) : null;
  if (coverageDir) undoOnError.push(() => rmSync(coverageDir, { recursive: true, force: true }));
  // The factory's config may set the address and the number of processes, so it is read before binding.
  const factoryConfig = await probeFactoryConfig({
    python,
    pythonPath: [PYTHON_PACKAGE_DIR],
    options: workerOptions({ ...settings, args: parsed.args, coverageDir }),
    identity,
    describe: (error) => describeLoadError(error, loadErrorExitCode(error), parsed.args[0] ?? settings.factory),
  });
  applyFactorySettings(parsed, factoryConfig.server);
  const socket = await openListenSocket(listenAddress(parsed), settings.backlog);
  undoOnError.push(() => socket.close());
  // Written before --chuid, so it can live where only root writes (/run).
  const pidfile = settings.pidfile ? new Pidfile(path.resolve(settings.pidfile)) : null;
  pidfile?.write(process.pid);
  undoOnError.push(() => pidfile?.remove(process.pid));
  if (identity) {
    handOver([socket.unixPath, pidfile?.path, coverageDir].filter((p): p is string => typeof p === 'string'), identity);
    dropPrivileges(identity);
  }
  log(`spawning: listening on ${socket.url} (pid ${process.pid}, ${settings.processes} processes × ${settings.threads} threads)`);
  if (coverageDir) log(`spawning: coverage data in ${coverageDir}; report at /_coverage`);
  const lifecycle = new EventEmitter();
  const reloader = settings.reload === 'dev' || settings.watch.length > 0 ? startReloader(() => requestReload(), log, lifecycle) : null;
  let requestReload = (): void => {};
  const pumpPid = daemon?.pumpPid;
  if (pumpPid) {
    // The log pump owns --stdout/--stderr; USR1 reopens them along with the access logs.
    process.on('SIGUSR1', () => {
      try {
        process.kill(pumpPid, 'SIGUSR1');
      } catch {
        // The pump is gone: nothing left to reopen.
      }
    });
  }
  reloader?.watch(settings.reload === 'dev' ? [...settings.watch, ...factoryConfig.watch] : settings.watch);
  const code = await runController({
    socket,
    events: lifecycle,
    maxMemory: settings.maxMemory,
    maxAge: settings.maxAge,
    onModules: (files) => reloader?.watch(files),
    onStart: (actor) => {
      requestReload = () => actor.send({ type: 'RELOAD' });
    },
    processes: settings.processes,
    deadmanTimeout: settings.deadmanTimeout,
    pidfile,
    log,
    childConfig: {
      args: parsed.args,
      factory: settings.factory,
      python,
      threads: settings.threads,
      processes: settings.processes,
      backlog: settings.backlog,
      host: socket.unixPath ? 'localhost' : socket.host,
      port: socket.port,
      unixPath: socket.unixPath,
      keepalive: !settings.noKeepalive,
      keepaliveTimeout: settings.keepaliveTimeout,
      headersTimeout: settings.headersTimeout,
      maxHeaderSize: settings.maxHeaderSize,
      maxBodySize: settings.maxBodySize,
      accessLog: settings.accessLogFile === '-' ? '-' : settings.accessLogFile === '/dev/null' ? '/dev/null' : path.resolve(settings.accessLogFile),
      deadmanTimeout: settings.deadmanTimeout,
      statsInterval: 500,
      pythonPath: [PYTHON_PACKAGE_DIR],
      reload: settings.reload,
      coverageDir,
      forwardedAllowIps: settings.forwardedAllowIps,
      scriptName: settings.scriptName ?? '',
      accessLogFormat: settings.accessLogFormat,
    },
  });
  if (coverageDir) rmSync(coverageDir, { recursive: true, force: true });
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (err: unknown) => {
    for (const undo of undoOnError.reverse()) await undo();
    if (err instanceof SpawningError) {
      log(err.format());
      process.exit(err.exitCode);
    }
    log(`spawning: internal error: ${err instanceof Error ? err.message : String(err)} [SPAWNING_ERR_INTERNAL]`);
    process.exit(1);
  },
);
