/**
 * The controller process: binds the socket, then drives machines/controller.ts
 * with real children, timers and signals. Signal handlers only send events.
 */
import type net from 'node:net';
import { createActor } from 'xstate';
import { HEALTHY_AFTER_MS } from '../../machines/backoff.js';
import { controllerMachine, type ControllerActor } from '../../machines/controller.js';
import type { ControllerNoticeStream } from '../../machines/controller-notices.js';
import { decideEviction, type Replacement, type WorkerPhase, type WorkerSample } from '../../machines/eviction-policy.js';
import type { ChildConfig, ChildStats, TlsMaterial } from '../../protocol/control-messages.js';
import { loadErrorLine, type LoadError, type ModuleFile } from '../../protocol/worker-messages.js';
import { ChildHandle } from '../actors/child-process.js';
import { ConnectionShares } from '../http/connection-balance.js';
import { HandoffBroker, type HandoffMessage } from '../http/connection-handoff.js';
import type { ListenSocket } from '../actors/listen-socket.js';
import { Pidfile } from '../actors/pidfile.js';
import { forwardSignals } from '../actors/signals.js';
import type { Inspect } from '../status/inspector.js';
import { AppLoadError, ConfigError, PythonEnvError, type SpawningError } from '../errors.js';
import { ExitCode } from '../../protocol/exit-codes.js';

const SAMPLE_INTERVAL_MS = 500;

// runController's callers get the actor in onStart; the type itself belongs to the machine.
export type { ControllerActor };

export interface ControllerOptions {
  /** --inspect: receives the controller actor's events. */
  inspect?: Inspect;
  /** Where the controller publishes its lifecycle and its children's reports (machines/controller-notices.ts). */
  notices: ControllerNoticeStream;
  /** Called with the actor before it starts: lets the runtime wire in samplers and watchers. */
  onStart?: (actor: ControllerActor) => void;
  /** Source files a worker reported (--reload=dev). */
  onModules?: (files: ModuleFile[]) => void;
  /** Bytes; replace children while the total RSS is above it. */
  maxMemory: number | null;
  /** Seconds; replace children older than this. */
  maxAge: number | null;
  /** The listening sockets (one unless systemd handed several); children inherit them all. */
  sockets: ListenSocket[];
  childConfig: ChildConfig;
  /** ms without a child's stats after which the connection balance and the hand-off leave it out. */
  silentAfterMs: number;
  /** Children (HTTP fronts) to run; each runs its share of `childConfig.processes` Python workers. */
  processes: number;
  deadmanTimeout: number;
  pidfile: Pidfile | null;
  log: (line: string) => void;
  /** SIGUSR2: starts a successor controller (src/runtime/upgrade.ts); absent, an upgrade fails at once. */
  startSuccessor?: (on: { ready: (pid: number) => void; failed: (reason: string) => void }) => { stop(): void };
  /** A successor failed to start. */
  onUpgradeFailed?: () => void;
  /** The successor serves: this controller drains and exits. */
  onHandingOver?: () => void;
  /** With TLS: reads the certificate and key again (every reload); null when they cannot be used (it logged why). */
  reloadTls?: () => TlsMaterial | null;
}

/** The one line a startup load error ends the controller with; `app` is the first positional as given. */
/** The interpreter lacks packages, or the worker was misconfigured: exit 2; the app itself cannot load: exit 3. */
export function loadErrorExitCode(error: LoadError): number {
  if (error.kind === 'python-packages' || error.kind === 'environment') return ExitCode.ENV_ERROR;
  return error.kind === 'config' ? ExitCode.CONFIG_ERROR : ExitCode.APP_LOAD_ERROR;
}

export function describeLoadError(error: LoadError, code: number, app: string): SpawningError {
  if (code === ExitCode.ENV_ERROR) return new PythonEnvError(error.message);
  if (code === ExitCode.CONFIG_ERROR) return new ConfigError(error.message);
  return new AppLoadError(`cannot load app '${app}': ${loadErrorLine(error)}`);
}

/**
 * Python workers of the child in `slot`: `workers` spread over `fronts`, the
 * first slots taking the remainder; a slot added by TTIN gets as many as the first.
 */
export function workersOfSlot(slot: number, workers: number, fronts: number): number {
  const base = Math.floor(workers / fronts);
  const extra = workers % fronts;
  return base + (slot < extra || (slot >= fronts && extra > 0) ? 1 : 0);
}

/** Python workers of `fronts` children (after TTIN/TTOU) when `workers` were first spread over `initialFronts`. */
export function workersOfFronts(fronts: number, workers: number, initialFronts: number): number {
  let total = 0;
  for (let slot = 0; slot < fronts; slot++) total += workersOfSlot(slot, workers, initialFronts);
  return total;
}

/** Runs until the controller stops; resolves with the exit code. */
export function runController(opts: ControllerOptions): Promise<number> {
  const { sockets, childConfig, log } = opts;
  const { notices } = opts;
  const children = new Map<number, ChildHandle>();
  /** Each child's RSS with its workers, by child id. */
  const childRss = new Map<number, number>();
  /** Each Python worker's figures for the eviction policy, by pid, with its child. */
  const workerSamples = new Map<number, WorkerSample & { child: number; phase: WorkerPhase }>();
  /** The last few replacements, for the eviction policy's back-off after a futile one. */
  const recent: Replacement[] = [];
  const respawnTimers = new Set<NodeJS.Timeout>();
  const balance = new ConnectionShares(opts.silentAfterMs);
  let processes = opts.processes;
  let successor: { stop(): void } | null = null;

  return new Promise((resolve) => {
    const actor = createActor(
      controllerMachine.provide({
        actions: {
          spawnChild: (_, { id, slot, generation }) => {
            const workers = workersOfSlot(slot, childConfig.processes, opts.processes);
            const child = new ChildHandle(id, slot, generation, sockets.map((s) => s.fd), { ...childConfig, workers, peers: processes > 1 });
            children.set(id, child);
            notices.publish({ type: 'child-started', id, slot, generation, pid: child.pid });
            let healthy: NodeJS.Timeout | undefined;
            child.process.on('message', (msg: HandoffMessage, socket?: net.Socket) => {
              if (msg.t === 'room') handoffs.report(id, msg);
              else if (msg.t === 'handoff' && socket) handoffs.handoff(id, socket);
              else if (msg.t === 'redirect' && socket) handoffs.redirect(id, socket, balance.target(id, serving()));
              else if (msg.t === 'last-call') {
                // Behind every connection already sent to it on this channel; nothing follows.
                sendIpc(id, { t: 'last-call' });
                lastCalled.add(id);
              }
            });
            // A child's IPC channel must not keep the controller alive.
            child.process.channel?.unref();
            child.on('message', (msg) => {
              switch (msg.t) {
                case 'ready':
                  healthy = setTimeout(() => actor.send({ type: 'CHILD_HEALTHY', slot }), HEALTHY_AFTER_MS);
                  notices.publish({ type: 'child-ready', id });
                  actor.send({ type: 'CHILD_READY', id });
                  handoffs.servingChanged(id);
                  return;
                case 'stats': {
                  const { t: _t, ...stats } = msg;
                  notices.publish({ type: 'child-stats', id, stats });
                  childRss.set(id, msg.rss);
                  sampleWorkers(id, msg.workers);
                  const live = serving();
                  child.send({ t: 'balance', ...balance.report(id, msg.connections, live) });
                  // A short child is filled now, not as each of the others next reports.
                  for (const other of balance.toTell(id, live)) children.get(other)?.send({ t: 'balance', ...balance.answer(other, live) });
                  // A drain or a reload changes who serves without a ready or an exit of this child.
                  handoffs.servingChanged();
                  return;
                }
                case 'modules':
                  opts.onModules?.(msg.files);
                  return;
                case 'worker-exit':
                  notices.publish({ type: 'worker-exited', id, pid: msg.pid, code: msg.code, signal: msg.signal, failed: msg.inflight });
                  return;
                case 'worker-evicted':
                  actor.send({ type: 'WORKER_EVICTED', id, oldPid: msg.oldPid, newPid: msg.newPid, outcome: msg.outcome });
                  return;
                case 'load-error':
                  actor.send({ type: 'CHILD_LOAD_ERROR', id, error: msg.error, code: loadErrorExitCode(msg.error) });
                  return;
                default:
                  return;
              }
            });
            child.on('exit', (code, signal) => {
              clearTimeout(healthy);
              children.delete(id);
              childRss.delete(id);
              sampleWorkers(id, []);
              balance.forget(id);
              handoffs.forget(id);
              lastCalled.delete(id);
              const record = actor.getSnapshot().context.children.find((c) => c.id === id);
              const unexpected = actor.getSnapshot().matches('active') && record?.state !== 'draining' && code !== ExitCode.APP_LOAD_ERROR;
              if (unexpected) log(`spawning: child ${child.pid} (slot ${slot}) exited unexpectedly (${signal ?? `code ${code}`})`);
              notices.publish({ type: 'child-exited', id, pid: child.pid, code, signal, unexpected });
              actor.send({ type: 'CHILD_EXIT', id });
              handoffs.servingChanged();
            });
          },
          drainChild: (_, { id }) => drain(id),
          drainChildren: (_, { ids }) => ids.forEach(drain),
          killChild: (_, { id }) => {
            const child = children.get(id);
            if (!child) return;
            log(`spawning: child ${child.pid} still busy ${opts.deadmanTimeout}s after it was told to drain; killing it`);
            child.kill('SIGKILL');
          },
          killAll: () => {
            for (const c of children.values()) c.kill('SIGKILL');
          },
          scheduleRespawn: (_, { slot, delayMs }) => {
            log(`spawning: restarting slot ${slot} in ${delayMs} ms`);
            const timer = setTimeout(() => {
              respawnTimers.delete(timer);
              actor.send({ type: 'RESPAWN_DUE', slot });
            }, delayMs);
            respawnTimers.add(timer);
          },
          cancelRespawns: () => {
            for (const t of respawnTimers) clearTimeout(t);
            respawnTimers.clear();
          },
          announceReady: (_, { ready, configured }) => log(`spawning: ready (${ready}/${configured} children)`),
          reportChildLoadError: (_, { error }) =>
            log(`spawning: a restarted child cannot load the app: ${loadErrorLine(error)}; retrying with backoff`),
          reportReloadStarted: (_, { generation }) => {
            log(`spawning: reloading: starting generation ${generation}`);
            // The serving children take the new certificate at once (their next handshakes), and
            // every child started from now on, this generation's included, starts with it.
            const material = opts.reloadTls?.() ?? null;
            if (material !== null) {
              childConfig.tls = material;
              for (const c of children.values()) c.send({ t: 'tls', material });
            }
            notices.publish({ type: 'reload-started', generation });
          },
          reportReloaded: (_, { generation }) => {
            log(`spawning: reloaded: generation ${generation} is serving`);
            notices.publish({ type: 'reloaded', generation });
          },
          reportReloadFailed: (_, { generation, error }) => {
            log(`spawning: reload failed: generation ${generation} ${error ? `cannot load the app: ${loadErrorLine(error)}` : 'exited before it was ready'}; the old code keeps serving`);
            if (error?.traceback) log(error.traceback.trimEnd());
            notices.publish({ type: 'reload-failed', generation, error });
          },
          evictWorker: (_, { id, pid, reason }) => children.get(id)?.send({ t: 'evict-worker', pid, reason }),
          reportEvicted: (_, { id, oldPid, newPid, reason, outcome }) => {
            const why = reason === 'memory' ? 'memory limit' : 'max age';
            if (outcome === 'refused') {
              // Not a futile replacement (nothing was tried to the end): no back-off, the policy chooses again.
              log(`spawning: child #${id} did not replace worker ${oldPid} now (${why}): it is not serving or is busy replacing`);
              return;
            }
            const ok = outcome === 'replaced';
            recent.push({ oldId: oldPid, newId: newPid, reason, ok, at: Date.now() });
            if (recent.length > 8) recent.shift();
            log(ok ? `spawning: replaced worker ${oldPid} of child #${id} by ${newPid} (${why})` : `spawning: the replacement for worker ${oldPid} of child #${id} exited before it was ready (${why}); keeping the old one`);
            notices.publish({ type: 'replaced', child: id, oldPid, newPid, reason, ok });
          },
          startSuccessor: () => {
            log(`spawning: upgrading: starting a new controller from ${process.argv[1]}`);
            const start = opts.startSuccessor;
            if (!start) {
              actor.send({ type: 'SUCCESSOR_FAILED', reason: 'cannot be started by this controller' });
              return;
            }
            successor = start({
              ready: (pid) => {
                log(`spawning: upgraded: controller ${pid} is serving; this one (pid ${process.pid}) drains and exits`);
                actor.send({ type: 'SUCCESSOR_READY' });
              },
              failed: (reason) => actor.send({ type: 'SUCCESSOR_FAILED', reason }),
            });
          },
          stopSuccessor: () => successor?.stop(),
          reportHandingOver: () => opts.onHandingOver?.(),
          reportUpgradeFailed: (_, { reason }) => {
            successor = null;
            log(`spawning: upgrade failed: the new controller ${reason}; this one keeps serving`);
            opts.onUpgradeFailed?.();
          },
          startDeadman: () => {
            setTimeout(() => actor.send({ type: 'DEADMAN' }), (opts.deadmanTimeout + 1) * 1000).unref();
          },
          closeSocket: () => {
            for (const s of sockets) void s.close();
          },
          exit: (_, { code, error }) => {
            for (const t of respawnTimers) clearTimeout(t);
            removeSignalHandlers();
            opts.pidfile?.remove(process.pid);
            if (error) {
              const err = describeLoadError(error, code, childConfig.args[0] ?? '');
              log(err.format());
              resolve(err.exitCode);
            } else {
              resolve(code);
            }
          },
        },
      }),
      { input: { processes: opts.processes }, inspect: opts.inspect },
    );

    /** Children that accept connections now (not draining, not starting). */
    const serving = (): Set<number> => new Set(actor.getSnapshot().context.children.filter((c) => c.state === 'ready').map((c) => c.id));
    /** Children that accept connections now or will once ready. */
    const fronts = (): number => actor.getSnapshot().context.children.filter((c) => c.state === 'ready' || c.state === 'starting').length;
    /** Sends connections a front would make wait to a front with a free thread (connection-handoff.ts). */
    const handoffs = new HandoffBroker(
      (id, n) => void sendIpc(id, { t: 'send', n }),
      (id, socket) => sendIpc(id, { t: 'connection' }, socket),
      // A front that stopped reporting (a stopped or blocked event loop) would leave them unread.
      () => balance.responsive(serving()),
      fronts,
      (to, msg) => {
        if (to !== null) sendIpc(to, msg);
        else for (const id of children.keys()) sendIpc(id, msg);
      },
    );
    /** Draining children that asked for their last call (HandoffMessage): they are sent nothing more. */
    const lastCalled = new Set<number>();
    const sendIpc = (id: number, msg: HandoffMessage, socket?: net.Socket): boolean => {
      const proc = children.get(id)?.process;
      if (!proc?.connected || lastCalled.has(id)) return false;
      // send()'s false means "queued behind others", not "not sent": a handle waits for the one before it to be acknowledged.
      proc.send(msg, socket);
      return true;
    };

    /** Keeps the figures of child `id`'s workers as its latest stats give them (none: the child is gone). */
    const sampleWorkers = (id: number, workers: ChildStats['workers']): void => {
      const now = Date.now();
      const seen = new Set<number>();
      for (const { pid, rss, role } of workers) {
        seen.add(pid);
        const phase: WorkerPhase = role === 'serving' ? 'ready' : role;
        const sample = workerSamples.get(pid) ?? { id: pid, child: id, rss, initialRss: 0, readyAt: 0, phase };
        sample.rss = rss;
        sample.phase = phase;
        // What a fresh worker weighs, and its age, count from its first report as serving.
        if (phase === 'ready' && sample.readyAt === 0) {
          sample.readyAt = now;
          sample.initialRss = rss;
        }
        workerSamples.set(pid, sample);
      }
      for (const [pid, w] of workerSamples) if (w.child === id && !seen.has(pid)) workerSamples.delete(pid);
    };

    const drain = (id: number): void => {
      const child = children.get(id);
      if (!child) return;
      child.send({ t: 'drain' });
      // The child enforces its own deadman; this catches a child too stuck to do even that.
      setTimeout(() => actor.send({ type: 'CHILD_DEADMAN', id }), (opts.deadmanTimeout + 2) * 1000).unref();
    };

    actor.subscribe((snapshot) => {
      if (snapshot.context.processes !== processes) {
        log(`spawning: now ${snapshot.context.processes} children (was ${processes})`);
        processes = snapshot.context.processes;
      }
    });
    const removeSignalHandlers = forwardSignals({
      send: (event) => actor.send(event),
      reopenLogs: () => {
        for (const c of children.values()) c.send({ t: 'reopen-logs' });
      },
    });
    if (opts.maxMemory !== null || opts.maxAge !== null) {
      const sampler = setInterval(() => {
        const snapshot = actor.getSnapshot();
        if (!snapshot.matches({ active: { running: 'steady' } })) return;
        const serving = new Set(snapshot.context.children.filter((c) => c.state === 'ready' && c.generation === snapshot.context.generation).map((c) => c.id));
        const candidates = [...workerSamples.values()].filter((w) => serving.has(w.child) && w.rss > 0);
        const decision = decideEviction({
          now: Date.now(),
          maxMemory: opts.maxMemory,
          maxAgeMs: opts.maxAge === null ? null : opts.maxAge * 1000,
          total: process.memoryUsage.rss() + [...childRss.values()].reduce((sum, n) => sum + n, 0),
          workers: candidates.map((w) => ({ id: w.id, rss: w.rss, initialRss: w.initialRss, readyAt: w.readyAt, state: w.phase })),
          recent,
          seed: process.pid,
        });
        if (decision.replace !== null) {
          log(`spawning: ${decision.why}; replacing it`);
          notices.publish({ type: 'evicting', reason: decision.reason, why: decision.why, figures: decision.figures });
          const child = workerSamples.get(decision.replace)?.child;
          if (child !== undefined) actor.send({ type: 'EVICT', id: child, pid: decision.replace, reason: decision.reason });
        }
      }, SAMPLE_INTERVAL_MS);
      sampler.unref();
    }
    opts.onStart?.(actor);
    actor.start();
    actor.send({ type: 'START' });
  });
}
