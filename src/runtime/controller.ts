/**
 * The controller process: binds the socket, then drives machines/controller.ts
 * with real children, timers and signals. Signal handlers only send events.
 */
import { createActor } from 'xstate';
import { controllerMachine } from '../../machines/controller.js';
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { LoadError } from '../../protocol/worker-messages.js';
import { ChildHandle } from '../actors/child-process.js';
import type { ListenSocket } from '../actors/listen-socket.js';
import { Pidfile } from '../actors/pidfile.js';
import { AppLoadError, PythonEnvError, type SpawningError } from '../errors.js';
import { ExitCode } from '../../protocol/exit-codes.js';

const HEALTHY_AFTER_MS = 10_000;

export interface ControllerOptions {
  socket: ListenSocket;
  childConfig: ChildConfig;
  processes: number;
  deadmanTimeout: number;
  pidfile: Pidfile | null;
  log: (line: string) => void;
}

export function describeLoadError(error: LoadError, code: number): SpawningError {
  if (error.kind === 'python-packages' || code === ExitCode.ENV_ERROR) return new PythonEnvError(error.message);
  const where = error.where ? ` (${error.where})` : '';
  return new AppLoadError(`cannot load the app: ${error.message}${where}`);
}

/** Runs until the controller stops; resolves with the exit code. */
export function runController(opts: ControllerOptions): Promise<number> {
  const { socket, childConfig, log } = opts;
  const children = new Map<number, ChildHandle>();
  const respawnTimers = new Set<NodeJS.Timeout>();
  let interrupts = 0;

  return new Promise((resolve) => {
    const actor = createActor(
      controllerMachine.provide({
        actions: {
          spawnChild: (_, { id, slot, generation }) => {
            const child = new ChildHandle(id, slot, generation, socket.fd, childConfig);
            children.set(id, child);
            let healthy: NodeJS.Timeout | undefined;
            child.on('message', (msg) => {
              switch (msg.t) {
                case 'ready':
                  healthy = setTimeout(() => actor.send({ type: 'CHILD_HEALTHY', slot }), HEALTHY_AFTER_MS);
                  actor.send({ type: 'CHILD_READY', id });
                  return;
                case 'load-error':
                  actor.send({ type: 'CHILD_LOAD_ERROR', id, error: msg.error, code: ExitCode.APP_LOAD_ERROR });
                  return;
                default:
                  return;
              }
            });
            child.on('exit', (code, signal) => {
              clearTimeout(healthy);
              children.delete(id);
              const snapshot = actor.getSnapshot();
              if (snapshot.matches('active') && code !== ExitCode.APP_LOAD_ERROR) {
                log(`spawning: child ${child.pid} (slot ${slot}) exited (${signal ?? `code ${code}`}); restarting`);
              }
              actor.send({ type: 'CHILD_EXIT', id });
            });
          },
          drainChild: (_, { id }) => children.get(id)?.send({ t: 'drain' }),
          killAll: () => {
            for (const c of children.values()) c.kill('SIGKILL');
          },
          scheduleRespawn: (_, { slot, delayMs }) => {
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
            log(`spawning: a restarted child cannot load the app: ${error.message}${error.where ? ` (${error.where})` : ''}; retrying with backoff`),
          startDeadman: () => {
            setTimeout(() => actor.send({ type: 'DEADMAN' }), (opts.deadmanTimeout + 1) * 1000).unref();
          },
          closeSocket: () => {
            void socket.close();
          },
          exit: (_, { code, error }) => {
            for (const t of respawnTimers) clearTimeout(t);
            opts.pidfile?.remove(process.pid);
            if (error) {
              const err = describeLoadError(error, code);
              log(err.format());
              resolve(err.exitCode);
            } else {
              resolve(code);
            }
          },
        },
      }),
      { input: { processes: opts.processes } },
    );

    // Handlers only turn signals into events (gunicorn's arbiter habit).
    process.on('SIGTERM', () => actor.send({ type: 'STOP' }));
    process.on('SIGINT', () => actor.send({ type: ++interrupts > 1 ? 'STOP_NOW' : 'STOP' }));
    process.on('SIGHUP', () => log('spawning: SIGHUP ignored: graceful reload is not available in this version yet'));
    actor.start();
    actor.send({ type: 'START' });
  });
}
