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
import { handedListenSocket, takeHandedSockets } from '../actors/handed-sockets.js';
import { openListenSocket, type ListenSocket } from '../actors/listen-socket.js';
import { Pidfile } from '../actors/pidfile.js';
import { monotonicUsec, startNotifier } from '../actors/sd-notify.js';
import { assertRunnableAs, dropPrivileges, handOver, resolveIdentity } from '../actors/privileges.js';
import { applyFactorySettings } from '../config/factory-settings.js';
import type { ParsedArgs } from '../config/parse-args.js';
import { childConfig, workerOptions } from '../config/process-config.js';
import { frontCount, listenAddress, resolvePython, validateApp, validateStatusPort } from '../config/validate.js';
import { ConfigError } from '../errors.js';
import { loadTlsMaterial, tlsFiles } from '../http/tls.js';
import type { FleetMember } from '../fleet/member.js';
import { PACKAGE_ROOT, PYTHON_PACKAGE_DIR } from '../paths.js';
import { observeController } from '../status/observer.js';
import type { StatusService } from '../status/service.js';
import { StatusStore } from '../status/status-store.js';
import { describeLoadError, loadErrorExitCode, runController, workersOfFronts, type ControllerActor } from './controller.js';
import { daemonStatus, launchDaemon } from './daemon.js';
import { startReloader, type Reloader } from './reloader.js';
import { startSuccessor } from './upgrade.js';

/** --daemonize: in the daemon, its startup lines also go to the launcher waiting in the foreground. */
const daemon = daemonStatus();

export const log = (line: string): void => {
  process.stderr.write(line + '\n');
  daemon?.tee(line);
};

export function version(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** How often children push their counters. */
const STATS_INTERVAL_MS = 500;
/**
 * A child that has pushed nothing for this long is unresponsive (a stopped
 * or blocked event loop): the status page says so, and the connection
 * balance and the hand-off send it nothing. One threshold, so that what the
 * page shows is what the balance does.
 */
const SILENT_AFTER_MS = 2 * STATS_INTERVAL_MS;

/** Undone if startup fails after the socket is bound (a Unix socket file, the pidfile). */
const undoOnError: Array<() => Promise<void> | void> = [];

/**
 * --check-config: every check start-up makes before it binds, and the app
 * imported through the factory as a worker imports it, then exit 0. The
 * errors are start-up's own: exit 2 for the configuration or the interpreter,
 * 3 for the app.
 */
export async function checkConfig(parsed: ParsedArgs): Promise<number> {
  const { settings } = parsed;
  if (!settings.daemonize && (settings.stdout !== null || settings.stderr !== null)) {
    throw new ConfigError(`${settings.stdout !== null ? '--stdout' : '--stderr'} needs --daemonize (in the foreground, redirect the output instead)`);
  }
  validateApp(parsed);
  validateStatusPort(parsed, listenAddress(parsed));
  const python = resolvePython(settings.python);
  if (settings.nats.length > 0) {
    const { connectionOptions, defaultNodeName } = await import('../fleet/connection.js');
    connectionOptions(settings, settings.nodeName ?? defaultNodeName());
  }
  const identity = settings.chuid ? resolveIdentity(settings.chuid) : null;
  if (identity) assertRunnableAs(python, identity);
  const factoryConfig = await probeFactoryConfig({
    python,
    pythonPath: [PYTHON_PACKAGE_DIR],
    options: workerOptions({ ...settings, args: parsed.args, coverageDir: null }),
    identity,
    loadApp: true,
    describe: (error) => describeLoadError(error, loadErrorExitCode(error), parsed.args[0] ?? settings.factory),
  });
  applyFactorySettings(parsed, factoryConfig.server);
  const address = listenAddress(parsed);
  validateStatusPort(parsed, address);
  const where = address.kind === 'unix' ? `unix:${address.path}` : `${address.host}:${address.port}`;
  log(`spawning: configuration OK: ${parsed.args.join(' ') || settings.factory} loads with ${python}; would serve ${where} with ${settings.processes} processes`);
  return 0;
}

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
  // Read (and removed from the environment) before any process is started.
  const handed = takeHandedSockets();
  if (!settings.daemonize && (settings.stdout !== null || settings.stderr !== null)) {
    throw new ConfigError(`${settings.stdout !== null ? '--stdout' : '--stderr'} needs --daemonize (in the foreground, redirect the output instead)`);
  }
  if (settings.daemonize && daemon === null) {
    const files = { stdout: settings.stdout && path.resolve(settings.stdout), stderr: settings.stderr && path.resolve(settings.stderr) };
    return launchDaemon(argv, files, settings.chuid ? resolveIdentity(settings.chuid) : null);
  }
  validateApp(parsed);
  // Checked before anything is bound: a missing file or a key that is not the certificate's is one line, exit 2.
  const tlsFilesGiven = tlsFiles(settings);
  const tlsMaterial = tlsFilesGiven === null ? null : loadTlsMaterial(tlsFilesGiven, settings);
  validateStatusPort(parsed, listenAddress(parsed)); // again below, once the factory's config may have moved the port
  const python = resolvePython(settings.python);
  const notifier = startNotifier(python, [PYTHON_PACKAGE_DIR], log);
  // The NATS client, the status service and the inspector are imported only when a flag asks for them:
  // together they weigh about 25 MB in a controller that serves without them.
  const fleet =
    settings.nats.length > 0
      ? await Promise.all([import('../fleet/connection.js'), import('../fleet/member.js'), import('../fleet/node-source.js')])
      : null;
  const nodeName = fleet ? (settings.nodeName ?? fleet[0].defaultNodeName()) : '';
  fleet?.[0].connectionOptions(settings, nodeName); // bad NATS flags fail before anything is bound

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
  // Handed sockets are served as they are: their address, backlog and file belong to whoever made them.
  const sockets: ListenSocket[] = handed ? handed.fds.map((fd) => handedListenSocket(fd, handed)) : [await openListenSocket(address, settings.backlog)];
  const socket = sockets[0]!;
  for (const s of sockets) undoOnError.push(() => s.close());
  const lifecycle = controllerNotices();
  const inspector = settings.inspect ? (await import('../status/inspector.js')).startInspector(settings.inspect, log) : null;
  undoOnError.push(() => inspector?.stop());
  const store = new StatusStore(SILENT_AFTER_MS);
  let controller: ControllerActor | null = null;
  let reloader: Reloader | null = null;
  const fronts = frontCount(settings.processes, settings.fronts);
  const controllerStatus = settings.statusPort === null ? null : await import('../status/controller-status.js');
  const openStatus = async (port: number): Promise<StatusService> =>
    (await import('../status/service.js')).startStatusService({
          host: settings.statusHost,
          port,
          store,
          info: {
            version: version(),
            url: socket.url,
            host: socket.unixPath ?? socket.host,
            port: socket.port,
            processes: settings.processes,
            threads: settings.threads,
            config: controllerStatus?.publicConfig(parsed) ?? {},
          },
          view: () => {
            const snapshot = controller?.getSnapshot();
            const now = snapshot?.context.processes ?? fronts;
            return {
              records: snapshot?.context.children ?? [],
              fronts: now,
              workers: workersOfFronts(now, settings.processes, fronts),
              generation: snapshot?.context.generation ?? 1,
              machines: { controller: snapshot?.value ?? 'idle', reloader: reloader?.state() ?? null },
            };
          },
          log,
          inspect: inspector?.inspect,
          fleet: async () => (member ? member.view() : null),
        });
  // Bound before --chuid too, so a privileged status port works like the service's. A successor
  // (SIGUSR2) binds it once the controller it replaces lets go, which is after the successor serves.
  const statusPort = settings.statusPort;
  let status: StatusService | null = statusPort === null || handed?.by === 'upgrade' ? null : await openStatus(statusPort);
  const statusReady = (service: StatusService): void => {
    status = service;
    if (controller) controllerStatus?.followHealth(controller, service, store);
  };
  if (statusPort !== null && handed?.by === 'upgrade') void retryStatus(() => openStatus(statusPort), log).then((service) => service && statusReady(service));
  undoOnError.push(() => status?.close());
  // Written before --chuid, so it can live where only root writes (/run).
  const pidfile = settings.pidfile ? new Pidfile(path.resolve(settings.pidfile)) : null;
  // A successor takes the pidfile once it serves: until then it names the controller that does.
  if (handed?.by !== 'upgrade') pidfile?.write(process.pid);
  undoOnError.push(() => pidfile?.remove(process.pid));
  if (identity) {
    handOver([handed ? null : socket.unixPath, pidfile?.path, coverageDir].filter((p): p is string => typeof p === 'string'), identity);
    dropPrivileges(identity);
  }
  const perWorker = settings.threads === 0 ? `${settings.green} green threads (${settings.maxGreen} at once)` : `${settings.threads} threads`;
  const via = handed ? `, ${sockets.length === 1 ? 'socket' : 'sockets'} from ${handed.by === 'systemd' ? 'systemd' : 'the controller it replaces'}` : '';
  const urls = sockets.map((s) => (tlsMaterial ? s.url.replace(/^http:/, 'https:') : s.url));
  log(`spawning: listening on ${urls.join(' ')} (pid ${process.pid}, ${settings.processes} processes × ${perWorker}, ${fronts} ${fronts === 1 ? 'front' : 'fronts'}${via})`);
  if (coverageDir) log(`spawning: coverage data in ${coverageDir}; report at /_coverage`);
  if (settings.reload === 'dev' || settings.watch.length > 0) reloader = startReloader(() => requestReload(), log, lifecycle, inspector?.inspect);
  let requestReload = (): void => {};
  const pumpPid = daemon?.pumpPid ?? null;
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
    sockets,
    notices: lifecycle,
    inspect: inspector?.inspect,
    maxMemory: settings.maxMemory,
    maxAge: settings.maxAge,
    silentAfterMs: SILENT_AFTER_MS,
    onModules: (files) => reloader?.imported(files),
    onStart: (actor) => {
      controller = actor;
      if (notifier) {
        let told: 'ready' | 'stopping' | null = null;
        actor.subscribe((snapshot) => {
          if (told === null && snapshot.matches({ active: 'running' })) {
            told = 'ready';
            // A successor tells systemd it is the service's main process now (NotifyAccess=all).
            notifier.send(...(handed?.by === 'upgrade' ? [`MAINPID=${process.pid}`] : []), 'READY=1');
          } else if (told !== 'stopping' && snapshot.matches('stopping')) {
            told = 'stopping';
            notifier.send('STOPPING=1');
          }
        });
        lifecycle.subscribe((notice) => {
          if (notice.type === 'reload-started') notifier.send('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`);
          else if (notice.type === 'reloaded' || notice.type === 'reload-failed') notifier.send('READY=1');
        });
      }
      requestReload = () => actor.send({ type: 'RELOAD' });
      if (status) controllerStatus?.followHealth(actor, status, store);
      if (pidfile && handed?.by === 'upgrade') {
        const unsubscribe = actor.subscribe((snapshot) => {
          if (!snapshot.matches({ active: 'running' })) return;
          unsubscribe.unsubscribe();
          pidfile.write(process.pid);
        });
      }
      if (!fleet) return;
      const [, { startFleetMember }, { controllerNodeSource }] = fleet;
      const source = controllerNodeSource({ actor, lifecycle, store, version: version(), url: socket.url, log, onDrain: () => status?.drainHost() });
      member = startFleetMember({ nats: settings, fleet: settings.fleet, node: nodeName, ttlSeconds: settings.fleetTtl, replicas: settings.fleetReplicas, source, log });
    },
    processes: fronts,
    deadmanTimeout: settings.deadmanTimeout,
    pidfile,
    startSuccessor: (on) =>
      startSuccessor({ argv, sockets, names: handed?.names ?? sockets.map(() => 'spawning'), pumpPid, notifySocket: notifier?.socket ?? null }, on),
    // The successor waits for the status port; the fleet entry is the successor's from now on.
    onHandingOver: () => {
      void status?.close();
    },
    log,
    childConfig: childConfig(settings, {
      args: parsed.args,
      python,
      host: socket.unixPath ? 'localhost' : socket.host,
      port: socket.port,
      unixPath: socket.unixPath,
      listenFds: sockets.length,
      statsInterval: STATS_INTERVAL_MS,
      pythonPath: [PYTHON_PACKAGE_DIR],
      coverageDir,
      tls: tlsMaterial,
    }),
    reloadTls:
      tlsFilesGiven === null
        ? undefined
        : () => {
            try {
              const material = loadTlsMaterial(tlsFilesGiven, settings);
              log(`spawning: TLS certificate read again (serial ${material.serial}); new connections get it`);
              return material;
            } catch (err) {
              log(`spawning: TLS certificate not reloaded, the current one keeps serving: ${(err as Error).message}`);
              return null;
            }
          },
  });
  reloader?.stop();
  inspector?.stop();
  notifier?.close();
  if (coverageDir) rmSync(coverageDir, { recursive: true, force: true });
  // Leave the fleet (delete the registry entry) rather than linger until the TTL; never wait long for NATS.
  const leaving = member as FleetMember | null;
  if (leaving) await Promise.race([leaving.stop(), new Promise((r) => setTimeout(r, 3000).unref())]);
  return code;
}


/** A successor's status service: its port is free once the controller it replaces hands over. */
async function retryStatus(open: () => Promise<StatusService>, log: (line: string) => void): Promise<StatusService | null> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await open();
    } catch (err) {
      if (Date.now() > deadline) {
        log(`spawning: status service: ${(err as Error).message}`);
        return null;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
