/**
 * Lifecycle of the controller: start the children, keep their number up
 * (respawning with backoff), stop gracefully or at once, and give up on an
 * app that cannot load before anything was ever served.
 *
 * Pure: the runtime (src/runtime/controller.ts) provides every action and
 * turns process exits, timers and signals into events. Child ids are chosen
 * here, so a path through the machine is fully determined by its events.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { LoadError } from '../protocol/worker-messages.js';

export type ChildState = 'starting' | 'ready' | 'draining';

export interface ChildRecord {
  id: number;
  slot: number;
  generation: number;
  state: ChildState;
}

export interface ControllerContext {
  processes: number;
  generation: number;
  nextId: number;
  children: ChildRecord[];
  /** Consecutive failed starts per slot; drives the respawn delay. */
  attempts: number[];
  everReady: boolean;
  loadError: LoadError | null;
  exitCode: number;
}

export interface ControllerInput {
  processes: number;
}

export type ControllerEvent =
  | { type: 'START' }
  | { type: 'CHILD_READY'; id: number }
  | { type: 'CHILD_LOAD_ERROR'; id: number; error: LoadError; code: number }
  | { type: 'CHILD_EXIT'; id: number }
  | { type: 'RESPAWN_DUE'; slot: number }
  | { type: 'CHILD_HEALTHY'; slot: number }
  | { type: 'STOP' }
  | { type: 'STOP_NOW' }
  | { type: 'DEADMAN' };

export const RESPAWN_BASE_MS = 100;
export const RESPAWN_MAX_MS = 10_000;

/** 100 ms, 200 ms, 400 ms … capped at 10 s: a crashing app cannot spin the CPU. */
export function respawnDelay(attempt: number): number {
  return Math.min(RESPAWN_MAX_MS, RESPAWN_BASE_MS * 2 ** attempt);
}

const without = (children: ChildRecord[], id: number): ChildRecord[] => children.filter((c) => c.id !== id);

export const controllerMachine = setup({
  types: {} as { context: ControllerContext; events: ControllerEvent; input: ControllerInput },
  actions: {
    spawnChild: (_, _params: { id: number; slot: number; generation: number }) => {},
    drainChild: (_, _params: { id: number }) => {},
    killAll: () => {},
    scheduleRespawn: (_, _params: { slot: number; delayMs: number }) => {},
    cancelRespawns: () => {},
    announceReady: (_, _params: { ready: number; configured: number }) => {},
    reportChildLoadError: (_, _params: { error: LoadError }) => {},
    startDeadman: () => {},
    closeSocket: () => {},
    exit: (_, _params: { code: number; error: LoadError | null }) => {},
  },
  guards: {
    allReady: ({ context }) =>
      context.children.filter((c) => c.state === 'ready' && c.generation === context.generation).length >= context.processes,
    noChildren: ({ context }) => context.children.length === 0,
    neverServed: ({ context }) => !context.everReady,
  },
}).createMachine({
  id: 'controller',
  context: ({ input }) => ({
    processes: input.processes,
    generation: 1,
    nextId: 1,
    children: [],
    attempts: Array<number>(input.processes).fill(0),
    everReady: false,
    loadError: null,
    exitCode: 0,
  }),
  initial: 'idle',
  on: {
    STOP_NOW: '.killed',
  },
  states: {
    idle: {
      on: { START: 'active', STOP: 'stopped' },
    },
    active: {
      initial: 'starting',
      on: {
        CHILD_READY: {
          actions: assign({
            children: ({ context, event }) => context.children.map((c) => (c.id === event.id ? { ...c, state: 'ready' as const } : c)),
          }),
        },
        CHILD_EXIT: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const child = context.children.find((c) => c.id === event.id);
            if (!child) return;
            const attempt = context.attempts[child.slot] ?? 0;
            enqueue.assign({
              children: without(context.children, event.id),
              attempts: context.attempts.map((a, i) => (i === child.slot ? a + 1 : a)),
            });
            enqueue({ type: 'scheduleRespawn', params: { slot: child.slot, delayMs: respawnDelay(attempt) } });
          }),
        },
        RESPAWN_DUE: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.children.some((c) => c.slot === event.slot)) return;
            const child: ChildRecord = { id: context.nextId, slot: event.slot, generation: context.generation, state: 'starting' };
            enqueue.assign({ children: [...context.children, child], nextId: context.nextId + 1 });
            enqueue({ type: 'spawnChild', params: { id: child.id, slot: child.slot, generation: child.generation } });
          }),
        },
        STOP: 'stopping',
      },
      states: {
        starting: {
          entry: enqueueActions(({ context, enqueue }) => {
            const children: ChildRecord[] = [];
            for (let slot = 0; slot < context.processes; slot++) {
              const child: ChildRecord = { id: context.nextId + slot, slot, generation: context.generation, state: 'starting' };
              children.push(child);
              enqueue({ type: 'spawnChild', params: { id: child.id, slot, generation: child.generation } });
            }
            enqueue.assign({ children, nextId: context.nextId + context.processes });
          }),
          always: { guard: 'allReady', target: 'running' },
          on: {
            CHILD_LOAD_ERROR: {
              guard: 'neverServed',
              target: '#controller.failed',
              actions: assign({ loadError: ({ event }) => event.error, exitCode: ({ event }) => event.code }),
            },
          },
        },
        running: {
          entry: [
            assign({ everReady: true }),
            { type: 'announceReady', params: ({ context }) => ({ ready: context.children.length, configured: context.processes }) },
          ],
          on: {
            CHILD_LOAD_ERROR: { actions: { type: 'reportChildLoadError', params: ({ event }) => ({ error: event.error }) } },
            CHILD_HEALTHY: {
              actions: assign({ attempts: ({ context, event }) => context.attempts.map((a, i) => (i === event.slot ? 0 : a)) }),
            },
          },
        },
      },
    },
    stopping: {
      entry: [
        'cancelRespawns',
        enqueueActions(({ context, enqueue }) => {
          for (const c of context.children) enqueue({ type: 'drainChild', params: { id: c.id } });
          enqueue.assign({ children: context.children.map((c) => ({ ...c, state: 'draining' as const })) });
        }),
        'startDeadman',
      ],
      always: { guard: 'noChildren', target: 'stopped' },
      on: {
        CHILD_EXIT: { actions: assign({ children: ({ context, event }) => without(context.children, event.id) }) },
        DEADMAN: { target: 'stopped', actions: 'killAll' },
      },
    },
    stopped: {
      type: 'final',
      entry: ['closeSocket', { type: 'exit', params: { code: 0, error: null } }],
    },
    killed: {
      type: 'final',
      entry: ['killAll', 'closeSocket', { type: 'exit', params: { code: 1, error: null } }],
    },
    failed: {
      type: 'final',
      entry: ['killAll', 'closeSocket', { type: 'exit', params: ({ context }) => ({ code: context.exitCode, error: context.loadError }) }],
    },
  },
});

export type ControllerMachine = typeof controllerMachine;
