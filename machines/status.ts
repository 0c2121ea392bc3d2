/**
 * The status service's health, as a load balancer sees it through /healthz.
 *
 *   binding ──BOUND──▶ listening ────────────────────────────────CLOSE──▶ closed
 *      │               ┌ warmingUp (503) ─CHILDREN─▶ judging ─▶ serving | degraded (200)
 *      │               │ serving/degraded ─HOST_DRAIN─▶ outOfRotation (503) ─HOST_RESTORE─▶ judging
 *      │               └ any ─CONTROLLER_STOPPING─▶ stopping (503, for good)
 *      └──BIND_FAILED──▶ failed
 *
 * Only `serving` and `degraded` answer 200: before the first child is ready a
 * host would refuse nothing but answer slowly, and once the controller stops
 * (or the host is drained out of a fleet) the balancer must take it out before
 * it goes. `stopping` is a trap: nothing brings a stopping host back.
 *
 * Pure: the runtime binds and closes the HTTP server (actions `close`,
 * `announce`) and turns the controller's lifecycle into events.
 */
import { assign, setup } from 'xstate';

export interface StatusContext {
  ready: number;
  configured: number;
  url: string | null;
}

export type StatusEvent =
  | { type: 'BOUND'; url: string }
  | { type: 'BIND_FAILED'; message: string }
  | { type: 'CHILDREN'; ready: number; configured: number }
  | { type: 'HOST_DRAIN' }
  | { type: 'HOST_RESTORE' }
  | { type: 'CONTROLLER_STOPPING' }
  | { type: 'CLOSE' };

export interface StatusActionParams {
  /** Log where the service listens. */
  announce: { url: string };
  /** Stop the HTTP server (the controller is exiting). */
  close: undefined;
}

export type StatusAction = keyof StatusActionParams;
export const STATUS_ACTIONS: readonly StatusAction[] = ['announce', 'close'];

/** What /healthz answers in each state. */
export type Health = 'starting' | 'serving' | 'degraded' | 'draining' | 'stopping' | 'closed';

const setCounts = assign<StatusContext, StatusEvent, undefined, StatusEvent, never>({
  ready: ({ context, event }) => (event.type === 'CHILDREN' ? event.ready : context.ready),
  configured: ({ context, event }) => (event.type === 'CHILDREN' ? event.configured : context.configured),
});

export const statusMachine = setup({
  types: {} as { context: StatusContext; events: StatusEvent },
  actions: {
    announce: (_, _params: StatusActionParams['announce']) => {},
    close: () => {},
    setCounts,
  },
  guards: {
    allReady: ({ context }) => context.ready > 0 && context.ready >= context.configured,
    someReady: ({ context }) => context.ready > 0,
  },
}).createMachine({
  id: 'status',
  context: { ready: 0, configured: 0, url: null },
  initial: 'binding',
  states: {
    binding: {
      on: {
        BOUND: {
          target: 'listening',
          actions: [assign({ url: ({ event }) => event.url }), { type: 'announce', params: ({ event }) => ({ url: event.url }) }],
        },
        BIND_FAILED: 'failed',
      },
    },
    listening: {
      initial: 'warmingUp',
      on: {
        CONTROLLER_STOPPING: '.stopping',
        CLOSE: { target: 'closed', actions: 'close' },
      },
      states: {
        // Decides from the latest counts; every change of them passes through here.
        judging: {
          always: [{ guard: 'allReady', target: 'serving' }, { guard: 'someReady', target: 'degraded' }, { target: 'warmingUp' }],
        },
        warmingUp: {
          on: { CHILDREN: { target: 'judging', actions: 'setCounts' } },
        },
        serving: {
          on: { CHILDREN: { target: 'judging', actions: 'setCounts' }, HOST_DRAIN: 'outOfRotation' },
        },
        // Some children are down (crashed, restarting): still worth traffic, but shown in warning colours.
        degraded: {
          on: { CHILDREN: { target: 'judging', actions: 'setCounts' }, HOST_DRAIN: 'outOfRotation' },
        },
        outOfRotation: {
          on: { CHILDREN: { actions: 'setCounts' }, HOST_RESTORE: 'judging' },
        },
        stopping: {
          on: { CHILDREN: { actions: 'setCounts' } },
        },
      },
    },
    failed: { type: 'final' },
    closed: { type: 'final' },
  },
});

export type StatusSnapshot = ReturnType<(typeof statusMachine)['getInitialSnapshot']>;

/** The /healthz verdict for a snapshot of the machine. */
export function healthOf(snapshot: { matches: (value: never) => boolean; value: unknown }): Health {
  const value = snapshot.value;
  if (typeof value === 'string') return value === 'closed' || value === 'failed' ? 'closed' : 'starting';
  const inner = (value as { listening: string }).listening;
  switch (inner) {
    case 'serving':
      return 'serving';
    case 'degraded':
      return 'degraded';
    case 'outOfRotation':
      return 'draining';
    case 'stopping':
      return 'stopping';
    default:
      return 'starting';
  }
}

export const healthy = (health: Health): boolean => health === 'serving' || health === 'degraded';
