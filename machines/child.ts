/**
 * Lifecycle of a child process: start its Python workers, accept only once
 * they are all ready, restart a dead one (the others keep serving), replace a
 * hung one, drain, stop. "The worker" below is the child's set of workers
 * (one or several, src/http/worker-set.ts): WORKER_READY means every one of
 * them is ready, and WORKER_EXIT says how many are still running.
 *
 * A hung worker (a request ran past --timeout and got 504; a Python thread
 * cannot be killed) is replaced gracefully: a replacement starts while the old
 * worker keeps serving; once it is READY new requests go to it, and the old
 * one, now retired, finishes its other requests and is killed when only the
 * hung ones are left (RETIREE_IDLE).
 *
 * A worker the controller evicts (--max-memory, --max-age: WORKER_EVICT) is
 * replaced the same way, except that it is not stuck: it finishes all its
 * requests and then exits by itself.
 *
 * Pure: no timers, processes or sockets here. The runtime (src/runtime/child.ts)
 * provides the actions and turns process exits, timers and control messages
 * into events, so every path can be walked by xstate/graph.
 */
import { assign, setup } from 'xstate';
import type { LoadError } from '../protocol/worker-messages.js';
import { backoff } from './backoff.js';

/** 100 ms doubling to 5 s: a worker that keeps dying cannot spin the CPU. */
export function workerRestartDelay(attempt: number): number {
  return backoff(attempt, 100, 5000);
}

export interface ChildContext {
  /** The inherited socket is being accepted on. */
  listening: boolean;
  /** Worker restarts since the last healthy period (drives backoff). */
  restarts: number;
  exitCode: number;
}

export type ChildEvent =
  | { type: 'START' }
  | { type: 'WORKER_READY' }
  | { type: 'WORKER_LOAD_ERROR'; error: LoadError; code: number }
  /** One worker exited (not a load error); `remaining`: the child's workers still running. */
  | { type: 'WORKER_EXIT'; code: number | null; remaining: number }
  | { type: 'WORKER_HUNG' }
  | { type: 'WORKER_EVICT' }
  | { type: 'REPLACEMENT_READY' }
  | { type: 'REPLACEMENT_EXIT' }
  | { type: 'RETIREE_IDLE'; pid: number }
  | { type: 'RESTART_DUE' }
  | { type: 'HEALTHY' }
  | { type: 'DRAIN' }
  | { type: 'IDLE' }
  | { type: 'DEADMAN' };

export const childMachine = setup({
  types: {} as { context: ChildContext; events: ChildEvent },
  actions: {
    spawnWorker: () => {},
    listen: () => {},
    attachWorker: () => {},
    reportReady: () => {},
    reportLoadError: (_, _params: { error: LoadError }) => {},
    failInflight: () => {},
    reportWorkerExit: () => {},
    scheduleRestart: (_, _params: { delayMs: number }) => {},
    cancelRestart: () => {},
    stopAccepting: () => {},
    startDeadman: () => {},
    checkIdle: () => {},
    shutdownWorker: () => {},
    killEverything: () => {},
    exit: (_, _params: { code: number }) => {},
    spawnReplacement: () => {},
    swapWorker: () => {},
    killReplacement: () => {},
    reportReplacementFailed: () => {},
    killRetiree: (_, _params: { pid: number }) => {},
  },
  guards: {
    isListening: ({ context }) => context.listening,
    lastWorker: ({ event }) => event.type === 'WORKER_EXIT' && event.remaining === 0,
  },
}).createMachine({
  id: 'child',
  context: { listening: false, restarts: 0, exitCode: 0 },
  initial: 'configuring',
  // A retired worker is killed whenever it is left with only its hung requests, whatever the child does meanwhile.
  on: {
    RETIREE_IDLE: { actions: { type: 'killRetiree', params: ({ event }) => ({ pid: event.pid }) } },
  },
  states: {
    configuring: {
      on: {
        START: 'startingWorker',
        DRAIN: 'stopped',
      },
    },
    startingWorker: {
      entry: 'spawnWorker',
      on: {
        WORKER_READY: [
          { guard: 'isListening', target: 'serving', actions: ['attachWorker', 'reportReady'] },
          {
            target: 'serving',
            actions: [assign({ listening: true }), 'attachWorker', 'listen', 'reportReady'],
          },
        ],
        WORKER_LOAD_ERROR: {
          target: 'failed',
          actions: [
            assign({ exitCode: ({ event }) => event.code }),
            { type: 'reportLoadError', params: ({ event }) => ({ error: event.error }) },
          ],
        },
        WORKER_EXIT: { target: 'restartingWorker', actions: ['failInflight', 'reportWorkerExit'] },
        DRAIN: { target: 'stopped', actions: 'killEverything' },
      },
    },
    serving: {
      on: {
        WORKER_EXIT: { target: 'restartingWorker', actions: ['failInflight', 'reportWorkerExit'] },
        WORKER_HUNG: 'replacingWorker',
        WORKER_EVICT: 'replacingWorker',
        HEALTHY: { actions: assign({ restarts: 0 }) },
        DRAIN: 'draining',
      },
    },
    replacingWorker: {
      // The outgoing worker keeps serving (a hung one loses only its hung requests) until the replacement is READY.
      entry: 'spawnReplacement',
      on: {
        REPLACEMENT_READY: { target: 'serving', actions: 'swapWorker' },
        REPLACEMENT_EXIT: { target: 'serving', actions: 'reportReplacementFailed' },
        WORKER_EXIT: { target: 'restartingWorker', actions: ['killReplacement', 'failInflight', 'reportWorkerExit'] },
        HEALTHY: { actions: assign({ restarts: 0 }) },
        DRAIN: { target: 'draining', actions: 'killReplacement' },
      },
    },
    restartingWorker: {
      entry: [
        { type: 'scheduleRestart', params: ({ context }) => ({ delayMs: workerRestartDelay(context.restarts) }) },
        assign({ restarts: ({ context }) => context.restarts + 1 }),
      ],
      exit: 'cancelRestart',
      on: {
        RESTART_DUE: 'startingWorker',
        // Another of its workers: the restart already due brings both back.
        WORKER_EXIT: { actions: ['failInflight', 'reportWorkerExit'] },
        DRAIN: { target: 'stopped', actions: 'killEverything' },
      },
    },
    draining: {
      entry: ['stopAccepting', 'startDeadman', 'checkIdle'],
      on: {
        IDLE: 'stoppingWorker',
        WORKER_EXIT: [{ guard: 'lastWorker', target: 'stopped', actions: 'failInflight' }, { actions: 'failInflight' }],
        DEADMAN: { target: 'stopped', actions: 'killEverything' },
      },
    },
    stoppingWorker: {
      entry: 'shutdownWorker',
      on: {
        WORKER_EXIT: { guard: 'lastWorker', target: 'stopped' },
        DEADMAN: { target: 'stopped', actions: 'killEverything' },
      },
    },
    stopped: {
      type: 'final',
      entry: { type: 'exit', params: { code: 0 } },
    },
    failed: {
      type: 'final',
      entry: { type: 'exit', params: ({ context }) => ({ code: context.exitCode }) },
    },
  },
});

export type ChildMachine = typeof childMachine;
