/**
 * The server's start-up, in the controller process: checks, the factory's
 * config, the listening socket, the status service, the pidfile and
 * --chuid, then the controller until it stops. `--daemonize` hands over
 * to a detached copy of this process instead (src/runtime/daemon.ts).
 */
import { controllerNotices } from '../../machines/controller-notices.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeFactoryConfig } from '../actors/config-probe.js';
import { openListenSocket } from '../actors/listen-socket.js';
import { Pidfile } from '../actors/pidfile.js';
import { assertRunnableAs, dropPrivileges, handOver, resolveIdentity } from '../actors/privileges.js';
import { applyFactorySettings } from '../config/factory-settings.js';
import type { ParsedArgs } from '../config/parse-args.js';
import { childConfig, workerOptions } from '../config/process-config.js';
import { frontCount, listenAddress, resolvePython, validateApp, validateStatusPort } from '../config/validate.js';
import { ConfigError } from '../errors.js';
import { connectionOptions, defaultNodeName } from '../fleet/connection.js';
import { startFleetMember, type FleetMember } from '../fleet/member.js';
import { controllerNodeSource } from '../fleet/node-source.js';
import { PACKAGE_ROOT, PYTHON_PACKAGE_DIR } from '../paths.js';
import { startInspector } from '../status/inspector.js';
import { observeController } from '../status/observer.js';
import { followHealth, publicConfig } from '../status/controller-status.js';
import { startStatusService } from '../status/service.js';
import { StatusStore } from '../status/status-store.js';
import { describeLoadError, loadErrorExitCode, runController, type ControllerActor } from './controller.js';
import { daemonStatus, launchDaemon } from './daemon.js';
import { startReloader, type Reloader } from './reloader.js';

/** --daemonize: in the daemon, its startup lines also go to the launcher waiting in the foreground. */
const daemon = daemonStatus();

export const log = (line: string): void => {
  process.stderr.write(line + '\n');
  daemon?.tee(line);
};

export function version(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** How often children push their counters; a child silent for four of these is unresponsive. */
const STATS_INTERVAL_MS = 500;

/** Undone if startup fails after the socket is bound (a Unix socket file, the pidfile). */
const undoOnError: Array<() => Promise<void> | void> = [];

/** Runs the server until it stops; its exit code. A failed start-up is undone before the error goes on. */
export async function boot(argv: string[], parsed: ParsedArgs): Promise<number> {
  try {
    return await serve(argv, parsed);
  } catch (err) {
    for (const undo of undoOnError.reverse()) await undo();
    throw err;
  }
}

async function serve(argv: string[], parsed: ParsedArgs): Promise<number> {
  const { settings } = parsed;
  if (!settings.daemonize && (settings.stdout !== null || settings.stderr !== null)) {
    throw new ConfigError(`${settings.stdout !== null ? '--stdout' : '--stderr'} needs --daemonize (in the foreground, redirect the output instead)`);
  }
  if (settings.daemonize && daemon === null) {
    const files = { stdout: settings.stdout && path.resolve(settings.stdout), stderr: settings.stderr && path.resolve(settings.stderr) };
    return launchDaemon(argv, files, settings.chuid ? resolveIdentity(settings.chuid) : null);
  }
  validateApp(parsed);
  validateStatusPort(parsed, listenAddress(parsed)); // again below, once the factory's config may have moved the port
  const python = resolvePython(settings.python);
  const nodeName = settings.nodeName ?? defaultNodeName();
  if (settings.nats.length > 0) connectionOptions(settings, nodeName); // bad NATS flags fail before anything is bound

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
  const address = listenAddress(parsed);
  validateStatusPort(parsed, address);
  const socket = await openListenSocket(address, settings.backlog);
  undoOnError.push(() => socket.close());
  const lifecycle = controllerNotices();
  const inspector = settings.inspect ? startInspector(settings.inspect, log) : null;
  undoOnError.push(() => inspector?.stop());
  const store = new StatusStore(STATS_INTERVAL_MS * 4);
  let controller: ControllerActor | null = null;
  let reloader: Reloader | null = null;
  // Bound before --chuid too, so a privileged status port works like the service's.
  const status =
    settings.statusPort === null
      ? null
      : await startStatusService({
          host: settings.statusHost,
          port: settings.statusPort,
          store,
          info: {
            version: version(),
            url: socket.url,
            host: socket.unixPath ?? socket.host,
            port: socket.port,
            processes: settings.processes,
            threads: settings.threads,
            config: publicConfig(parsed),
          },
          view: () => {
            const snapshot = controller?.getSnapshot();
            return {
              records: snapshot?.context.children ?? [],
              processes: snapshot?.context.processes ?? settings.processes,
              generation: snapshot?.context.generation ?? 1,
              machines: { controller: snapshot?.value ?? 'idle', reloader: reloader?.state() ?? null },
            };
          },
          log,
          inspect: inspector?.inspect,
          fleet: async () => (member ? member.view() : null),
        });
  undoOnError.push(() => status?.close());
  // Written before --chuid, so it can live where only root writes (/run).
  const pidfile = settings.pidfile ? new Pidfile(path.resolve(settings.pidfile)) : null;
  pidfile?.write(process.pid);
  undoOnError.push(() => pidfile?.remove(process.pid));
  if (identity) {
    handOver([socket.unixPath, pidfile?.path, coverageDir].filter((p): p is string => typeof p === 'string'), identity);
    dropPrivileges(identity);
  }
  const fronts = frontCount(settings.processes, settings.fronts);
  const perWorker = settings.threads === 0 ? `${settings.green} green threads (${settings.maxGreen} at once)` : `${settings.threads} threads`;
  log(`spawning: listening on ${socket.url} (pid ${process.pid}, ${settings.processes} processes × ${perWorker}, ${fronts} ${fronts === 1 ? 'front' : 'fronts'})`);
  if (coverageDir) log(`spawning: coverage data in ${coverageDir}; report at /_coverage`);
  if (settings.reload === 'dev' || settings.watch.length > 0) reloader = startReloader(() => requestReload(), log, lifecycle, inspector?.inspect);
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
  store.record('started', `spawning ${version()} started: ${settings.processes} processes × ${perWorker} on ${socket.url}`);
  // The fleet sees the controller through one FleetNodeSource, made when it starts.
  let member: FleetMember | null = null;
  observeController(store, lifecycle);
  const code = await runController({
    socket,
    notices: lifecycle,
    inspect: inspector?.inspect,
    maxMemory: settings.maxMemory,
    maxAge: settings.maxAge,
    onModules: (files) => reloader?.imported(files),
    onStart: (actor) => {
      controller = actor;
      requestReload = () => actor.send({ type: 'RELOAD' });
      if (status) followHealth(actor, status, store);
      if (settings.nats.length === 0) return;
      const source = controllerNodeSource({ actor, lifecycle, store, version: version(), url: socket.url, log, onDrain: () => status?.drainHost() });
      member = startFleetMember({ nats: settings, fleet: settings.fleet, node: nodeName, ttlSeconds: settings.fleetTtl, replicas: settings.fleetReplicas, source, log });
    },
    processes: fronts,
    deadmanTimeout: settings.deadmanTimeout,
    pidfile,
    log,
    childConfig: childConfig(settings, {
      args: parsed.args,
      python,
      host: socket.unixPath ? 'localhost' : socket.host,
      port: socket.port,
      unixPath: socket.unixPath,
      statsInterval: STATS_INTERVAL_MS,
      pythonPath: [PYTHON_PACKAGE_DIR],
      coverageDir,
    }),
  });
  reloader?.stop();
  inspector?.stop();
  if (coverageDir) rmSync(coverageDir, { recursive: true, force: true });
  // Leave the fleet (delete the registry entry) rather than linger until the TTL; never wait long for NATS.
  const leaving = member as FleetMember | null;
  if (leaving) await Promise.race([leaving.stop(), new Promise((r) => setTimeout(r, 3000).unref())]);
  return code;
}

