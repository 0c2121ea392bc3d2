/**
 * Lifecycle of the controller: start the children, keep their number up,
 * replace them without a gap (graceful reload), have one of their Python
 * workers replaced for --max-memory/--max-age (the child does it, its other
 * workers serving meanwhile), scale with TTIN/TTOU, and stop gracefully or at
 * once.
 *
 * Pure: the runtime (src/runtime/controller.ts) provides every action and
 * turns process exits, timers and signals into events. Child ids are chosen
 * here, so a path through the machine is fully determined by its events.
 *
 * The rule everything hangs on: an old child is told to drain only once its
 * replacement is ready (its worker imported the app and it is accepting).
 * A reload replaces every slot at once and commits only when all the new
 * children are ready; if one cannot load the app, the new ones drain and the
 * old generation keeps serving.
 *
 * An in-place upgrade (SIGUSR2: UPGRADE) follows the same rule one level up:
 * a successor controller is started from the current installation with the
 * listening sockets, and only once it serves does this one hand over (drain
 * every child and exit 0); if it fails, this one goes on serving.
 */
import { assign, enqueueActions, setup, type Actor } from 'xstate';
import { backoff } from './backoff.js';
import type { LoadError } from '../protocol/worker-messages.js';
import type { EvictionOutcome } from '../protocol/control-messages.js';

export type ChildState = 'starting' | 'ready' | 'draining';
export type ReplaceReason = 'memory' | 'age';

export interface ChildRecord {
  id: number;
  slot: number;
  generation: number;
  state: ChildState;
}

export interface ControllerContext {
  /** Slots to fill (--processes, changed by TTIN/TTOU). */
  processes: number;
  /** The code generation serving now. */
  generation: number;
  nextId: number;
  children: ChildRecord[];
  /** Consecutive failed starts per slot; drives the respawn delay. */
  attempts: number[];
  everReady: boolean;
  /** A reload was asked for while another operation ran: run it next. */
  reloadPending: boolean;
  /** An upgrade was asked for while another operation ran: run it next. */
  upgradePending: boolean;
  /** The worker being replaced by its child (one at a time), and why. */
  evicting: { id: number; pid: number; reason: ReplaceReason } | null;
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
  | { type: 'CHILD_DEADMAN'; id: number }
  | { type: 'RESPAWN_DUE'; slot: number }
  | { type: 'CHILD_HEALTHY'; slot: number }
  | { type: 'RELOAD' }
  /** Replace worker `pid` of child `id` (the eviction policy's choice). */
  | { type: 'EVICT'; id: number; pid: number; reason: ReplaceReason }
  /** Child `id` replaced worker `oldPid` by `newPid`, or could not (the old one keeps serving). */
  | { type: 'WORKER_EVICTED'; id: number; oldPid: number; newPid: number; outcome: EvictionOutcome }
  | { type: 'INCREASE' }
  | { type: 'DECREASE' }
  | { type: 'STOP' }
  | { type: 'STOP_NOW' }
  | { type: 'DEADMAN' }
  /** SIGUSR2: start a successor controller and hand over to it once it serves. */
  | { type: 'UPGRADE' }
  | { type: 'SUCCESSOR_READY' }
  | { type: 'SUCCESSOR_FAILED'; reason: string };

export const RESPAWN_BASE_MS = 100;
export const RESPAWN_MAX_MS = 10_000;

/** 100 ms, 200 ms, 400 ms … capped at 10 s: a crashing app cannot spin the CPU. */
export function respawnDelay(attempt: number): number {
  return backoff(attempt, RESPAWN_BASE_MS, RESPAWN_MAX_MS);
}

const without = (children: ChildRecord[], id: number): ChildRecord[] => children.filter((c) => c.id !== id);
const withState = (children: ChildRecord[], ids: (c: ChildRecord) => boolean, state: ChildState): ChildRecord[] =>
  children.map((c) => (ids(c) ? { ...c, state } : c));
const live = (c: ChildRecord): boolean => c.state !== 'draining';
/** Live children of a generation that is not serving yet (a reload in progress). */
const unborn = (context: ControllerContext) => (c: ChildRecord): boolean => c.generation > context.generation && live(c);

export const controllerMachine = setup({
  types: {} as { context: ControllerContext; events: ControllerEvent; input: ControllerInput },
  actions: {
    spawnChild: (_, _params: { id: number; slot: number; generation: number }) => {},
    drainChild: (_, _params: { id: number }) => {},
    killChild: (_, _params: { id: number }) => {},
    killAll: () => {},
    scheduleRespawn: (_, _params: { slot: number; delayMs: number }) => {},
    cancelRespawns: () => {},
    announceReady: (_, _params: { ready: number; configured: number }) => {},
    reportChildLoadError: (_, _params: { error: LoadError }) => {},
    reportReloadStarted: (_, _params: { generation: number }) => {},
    reportReloaded: (_, _params: { generation: number }) => {},
    reportReloadFailed: (_, _params: { generation: number; error: LoadError | null }) => {},
    evictWorker: (_, _params: { id: number; pid: number; reason: ReplaceReason }) => {},
    reportEvicted: (_, _params: { id: number; oldPid: number; newPid: number; reason: ReplaceReason; outcome: EvictionOutcome }) => {},
    startSuccessor: () => {},
    stopSuccessor: () => {},
    reportUpgradeFailed: (_, _params: { reason: string }) => {},
    reportHandingOver: () => {},
    drainChildren: (_, _params: { ids: number[] }) => {},
    startDeadman: () => {},
    closeSocket: () => {},
    exit: (_, _params: { code: number; error: LoadError | null }) => {},
  },
  guards: {
    allReady: ({ context }) =>
      context.children.filter((c) => c.state === 'ready' && c.generation === context.generation).length >= context.processes,
    /** Every slot has a ready child of the generation being loaded. */
    newGenerationReady: ({ context }) => {
      const next = context.generation + 1;
      const ready = new Set(context.children.filter((c) => c.generation === next && c.state === 'ready').map((c) => c.slot));
      return ready.size >= context.processes;
    },
    reloadPending: ({ context }) => context.reloadPending,
    upgradePending: ({ context }) => context.upgradePending,
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
    reloadPending: false,
    upgradePending: false,
    evicting: null,
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
            children: ({ context, event }) => withState(context.children, (c) => c.id === event.id && c.state === 'starting', 'ready'),
          }),
        },
        CHILD_EXIT: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const child = context.children.find((c) => c.id === event.id);
            if (!child) return;
            enqueue.assign({ children: without(context.children, event.id) });
            // A draining child is expected to go; a child of a reload in progress is the reload's business.
            if (child.state === 'draining' || child.generation !== context.generation) return;
            if (child.slot >= context.processes) return;
            const attempt = context.attempts[child.slot] ?? 0;
            enqueue.assign({ attempts: context.attempts.map((a, i) => (i === child.slot ? a + 1 : a)) });
            enqueue({ type: 'scheduleRespawn', params: { slot: child.slot, delayMs: respawnDelay(attempt) } });
          }),
        },
        CHILD_DEADMAN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.children.some((c) => c.id === event.id && c.state === 'draining')) {
              enqueue({ type: 'killChild', params: { id: event.id } });
            }
          }),
        },
        RESPAWN_DUE: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const slot = event.slot;
            if (slot >= context.processes) return;
            if (context.children.some((c) => c.slot === slot && live(c) && c.generation === context.generation)) return;
            const child: ChildRecord = { id: context.nextId, slot, generation: context.generation, state: 'starting' };
            enqueue.assign({ children: [...context.children, child], nextId: context.nextId + 1 });
            enqueue({ type: 'spawnChild', params: { id: child.id, slot, generation: child.generation } });
          }),
        },
        INCREASE: {
          actions: enqueueActions(({ context, enqueue }) => {
            const slot = context.processes;
            const child: ChildRecord = { id: context.nextId, slot, generation: context.generation, state: 'starting' };
            enqueue.assign({
              processes: slot + 1,
              attempts: [...context.attempts, 0],
              children: [...context.children, child],
              nextId: context.nextId + 1,
            });
            enqueue({ type: 'spawnChild', params: { id: child.id, slot, generation: child.generation } });
          }),
        },
        DECREASE: {
          actions: enqueueActions(({ context, enqueue }) => {
            if (context.processes <= 1) return;
            const slot = context.processes - 1;
            const leaving = context.children.filter((c) => c.slot === slot && live(c));
            for (const c of leaving) enqueue({ type: 'drainChild', params: { id: c.id } });
            enqueue.assign({
              processes: slot,
              attempts: context.attempts.slice(0, slot),
              children: withState(context.children, (c) => c.slot === slot && live(c), 'draining'),
            });
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
            // Reloading before the first generation is up would only race it; remember the wish.
            RELOAD: { actions: assign({ reloadPending: true }) },
            UPGRADE: { actions: assign({ upgradePending: true }) },
          },
        },
        running: {
          entry: [
            assign({ everReady: true }),
            { type: 'announceReady', params: ({ context }) => ({ ready: context.children.length, configured: context.processes }) },
          ],
          initial: 'steady',
          on: {
            CHILD_HEALTHY: {
              actions: assign({ attempts: ({ context, event }) => context.attempts.map((a, i) => (i === event.slot ? 0 : a)) }),
            },
          },
          states: {
            steady: {
              always: [
                { guard: 'reloadPending', target: 'reloading' },
                { guard: 'upgradePending', target: 'upgrading' },
              ],
              on: {
                RELOAD: 'reloading',
                UPGRADE: 'upgrading',
                EVICT: {
                  target: 'evicting',
                  guard: ({ context, event }) => context.children.some((c) => c.id === event.id && c.state === 'ready' && c.generation === context.generation),
                  actions: [
                    assign({ evicting: ({ event }) => ({ id: event.id, pid: event.pid, reason: event.reason }) }),
                    { type: 'evictWorker', params: ({ event }) => ({ id: event.id, pid: event.pid, reason: event.reason }) },
                  ],
                },
                CHILD_LOAD_ERROR: { actions: { type: 'reportChildLoadError', params: ({ event }) => ({ error: event.error }) } },
              },
            },
            reloading: {
              entry: enqueueActions(({ context, enqueue }) => {
                const generation = context.generation + 1;
                const children: ChildRecord[] = [];
                for (let slot = 0; slot < context.processes; slot++) {
                  const child: ChildRecord = { id: context.nextId + slot, slot, generation, state: 'starting' };
                  children.push(child);
                  enqueue({ type: 'spawnChild', params: { id: child.id, slot, generation } });
                }
                enqueue.assign({ children: [...context.children, ...children], nextId: context.nextId + context.processes, reloadPending: false });
                enqueue({ type: 'reportReloadStarted', params: { generation } });
              }),
              always: {
                guard: 'newGenerationReady',
                target: 'steady',
                actions: enqueueActions(({ context, enqueue }) => {
                  const generation = context.generation + 1;
                  const old = context.children.filter((c) => c.generation < generation && live(c));
                  for (const c of old) enqueue({ type: 'drainChild', params: { id: c.id } });
                  // Also drain surplus new children (a slot removed by TTOU during the reload).
                  const surplus = context.children.filter((c) => c.generation === generation && c.slot >= context.processes && live(c));
                  for (const c of surplus) enqueue({ type: 'drainChild', params: { id: c.id } });
                  enqueue.assign({
                    generation,
                    children: withState(context.children, (c) => old.includes(c) || surplus.includes(c), 'draining'),
                  });
                  enqueue({ type: 'reportReloaded', params: { generation } });
                }),
              },
              on: {
                RELOAD: { actions: assign({ reloadPending: true }) },
                UPGRADE: { actions: assign({ upgradePending: true }) },
                CHILD_LOAD_ERROR: {
                  guard: ({ context, event }) => context.children.some((c) => c.id === event.id && c.generation > context.generation),
                  target: 'steady',
                  actions: [
                    { type: 'drainChildren', params: ({ context }) => ({ ids: context.children.filter(unborn(context)).map((c) => c.id) }) },
                    assign({ children: ({ context }) => withState(context.children, unborn(context), 'draining') }),
                    { type: 'reportReloadFailed', params: ({ context, event }) => ({ generation: context.generation + 1, error: event.error }) },
                  ],
                },
                CHILD_EXIT: {
                  guard: ({ context, event }) => context.children.some((c) => c.id === event.id && c.generation > context.generation && live(c)),
                  target: 'steady',
                  actions: [
                    assign({ children: ({ context, event }) => without(context.children, event.id) }),
                    { type: 'drainChildren', params: ({ context }) => ({ ids: context.children.filter(unborn(context)).map((c) => c.id) }) },
                    assign({ children: ({ context }) => withState(context.children, unborn(context), 'draining') }),
                    { type: 'reportReloadFailed', params: ({ context }) => ({ generation: context.generation + 1, error: null }) },
                  ],
                },
              },
            },
            evicting: {
              // The child went (it crashed, or TTOU drained it): its workers went with it.
              always: {
                guard: ({ context }) => !context.children.some((c) => c.id === context.evicting?.id && c.state === 'ready'),
                target: 'steady',
                actions: [
                  { type: 'reportEvicted', params: ({ context }) => ({ id: context.evicting!.id, oldPid: context.evicting!.pid, newPid: 0, reason: context.evicting!.reason, outcome: 'refused' }) },
                  assign({ evicting: null }),
                ],
              },
              on: {
                RELOAD: { actions: assign({ reloadPending: true }) },
                UPGRADE: { actions: assign({ upgradePending: true }) },
                WORKER_EVICTED: {
                  guard: ({ context, event }) => event.id === context.evicting?.id && event.oldPid === context.evicting.pid,
                  target: 'steady',
                  actions: [
                    { type: 'reportEvicted', params: ({ context, event }) => ({ id: event.id, oldPid: event.oldPid, newPid: event.newPid, reason: context.evicting!.reason, outcome: event.outcome }) },
                    assign({ evicting: null }),
                  ],
                },
              },
            },
            // The children keep serving (and are kept up) while the successor starts.
            upgrading: {
              entry: [assign({ upgradePending: false }), 'startSuccessor'],
              on: {
                RELOAD: { actions: assign({ reloadPending: true }) },
                SUCCESSOR_READY: '#controller.handingOver',
                SUCCESSOR_FAILED: { target: 'steady', actions: { type: 'reportUpgradeFailed', params: ({ event }) => ({ reason: event.reason }) } },
                // Stopping now stops the successor too: neither should outlive the other's stop.
                STOP: { target: '#controller.stopping', actions: 'stopSuccessor' },
              },
            },
          },
        },
      },
    },
    // The successor serves on the same sockets: drain like a graceful stop, but this is no stop of the service.
    handingOver: {
      entry: [
        'reportHandingOver',
        'cancelRespawns',
        enqueueActions(({ context, enqueue }) => {
          for (const c of context.children) if (live(c)) enqueue({ type: 'drainChild', params: { id: c.id } });
          enqueue.assign({ children: withState(context.children, () => true, 'draining'), reloadPending: false, upgradePending: false, evicting: null });
        }),
        'startDeadman',
      ],
      always: { guard: 'noChildren', target: 'handedOver' },
      on: {
        CHILD_EXIT: { actions: assign({ children: ({ context, event }) => without(context.children, event.id) }) },
        CHILD_DEADMAN: { actions: { type: 'killChild', params: ({ event }) => ({ id: event.id }) } },
        DEADMAN: { target: 'handedOver', actions: 'killAll' },
      },
    },
    handedOver: {
      type: 'final',
      entry: ['closeSocket', { type: 'exit', params: { code: 0, error: null } }],
    },
    stopping: {
      entry: [
        'cancelRespawns',
        enqueueActions(({ context, enqueue }) => {
          for (const c of context.children) if (live(c)) enqueue({ type: 'drainChild', params: { id: c.id } });
          enqueue.assign({ children: withState(context.children, () => true, 'draining'), reloadPending: false, upgradePending: false, evicting: null });
        }),
        'startDeadman',
      ],
      always: { guard: 'noChildren', target: 'stopped' },
      on: {
        CHILD_EXIT: { actions: assign({ children: ({ context, event }) => without(context.children, event.id) }) },
        CHILD_DEADMAN: { actions: { type: 'killChild', params: ({ event }) => ({ id: event.id }) } },
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
/** The running controller, as the status service and the fleet see it (and the runtime drives it). */
export type ControllerActor = Actor<ControllerMachine>;
