/** `spawning [options] module.app [middleware ...]` */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openListenSocket } from './actors/listen-socket.js';
import { Pidfile } from './actors/pidfile.js';
import { assertRunnableAs, dropPrivileges, handOver, resolveIdentity } from './actors/privileges.js';
import { helpText, parseArgs } from './config/parse-args.js';
import { listenAddress, rejectUnavailable, resolvePython, validateApp } from './config/validate.js';
import { SpawningError } from './errors.js';
import { PACKAGE_ROOT, PYTHON_PACKAGE_DIR } from './paths.js';
import { runController } from './runtime/controller.js';
import { startReloader } from './runtime/reloader.js';

const log = (line: string): void => {
  process.stderr.write(line + '\n');
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
  validateApp(parsed);
  const python = resolvePython(settings.python);
  const identity = settings.chuid ? resolveIdentity(settings.chuid) : null;
  const socket = await openListenSocket(listenAddress(parsed), settings.backlog);
  undoOnError.push(() => socket.close());
  // Written before --chuid, so it can live where only root writes (/run).
  const pidfile = settings.pidfile ? new Pidfile(path.resolve(settings.pidfile)) : null;
  pidfile?.write(process.pid);
  undoOnError.push(() => pidfile?.remove(process.pid));
  if (identity) {
    assertRunnableAs(python, identity);
    handOver([socket.unixPath, pidfile?.path].filter((p): p is string => typeof p === 'string'), identity);
    dropPrivileges(identity);
  }
  const perWorker = settings.threads === 0 ? `${settings.green} green threads (${settings.maxGreen} at once)` : `${settings.threads} threads`;
  log(`spawning: listening on ${socket.url} (pid ${process.pid}, ${settings.processes} processes × ${perWorker})`);
  const lifecycle = new EventEmitter();
  const reloader = settings.reload === 'dev' || settings.watch.length > 0 ? startReloader(() => requestReload(), log, lifecycle) : null;
  let requestReload = (): void => {};
  reloader?.watch(settings.watch);
  return runController({
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
      green: settings.green,
      maxGreen: settings.maxGreen,
      maxQueue: settings.maxQueue,
      timeout: settings.timeout,
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
    },
  });
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
