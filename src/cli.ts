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
import { connectionOptions, defaultNodeName } from './fleet/connection.js';
import { runFleetCommand } from './fleet/cli.js';
import { startHealthServer } from './fleet/health-server.js';
import { startFleetMember, type FleetMember } from './fleet/member.js';
import { controllerNodeSource, type FleetNodeSource } from './fleet/node-source.js';
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
  if (argv[0] === 'fleet') return runFleetCommand(argv.slice(1), { out: (text) => process.stdout.write(text), log });
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
  const nodeName = settings.nodeName ?? defaultNodeName();
  if (settings.nats.length > 0) connectionOptions(settings, nodeName); // bad NATS flags fail before anything is bound

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
  log(`spawning: listening on ${socket.url} (pid ${process.pid}, ${settings.processes} processes × ${settings.threads} threads)`);
  const lifecycle = new EventEmitter();
  // The fleet and the health check see the controller through one FleetNodeSource, made when it starts.
  let source: FleetNodeSource | null = null;
  let member: FleetMember | null = null;
  if (settings.statusPort !== null) {
    const health = await startHealthServer(settings.statusHost, settings.statusPort, () => source, async () => (member ? member.view() : null));
    log(`spawning: status on http://${settings.statusHost}:${health.port}/healthz`);
  }
  const reloader = settings.reload === 'dev' || settings.watch.length > 0 ? startReloader(() => requestReload(), log, lifecycle) : null;
  let requestReload = (): void => {};
  reloader?.watch(settings.watch);
  const code = await runController({
    socket,
    events: lifecycle,
    maxMemory: settings.maxMemory,
    maxAge: settings.maxAge,
    onModules: (files) => reloader?.watch(files),
    onStart: (actor) => {
      requestReload = () => actor.send({ type: 'RELOAD' });
      if (settings.nats.length === 0 && settings.statusPort === null) return;
      source = controllerNodeSource({ actor, lifecycle, version: version(), url: socket.url, log });
      if (settings.nats.length > 0) {
        member = startFleetMember({ nats: settings, fleet: settings.fleet, node: nodeName, ttlSeconds: settings.fleetTtl, source, log });
      }
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
    },
  });
  // Leave the fleet (delete the registry entry) rather than linger until the TTL; never wait long for NATS.
  const leaving = member as FleetMember | null;
  if (leaving) await Promise.race([leaving.stop(), new Promise((r) => setTimeout(r, 3000).unref())]);
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
