/**
 * A rolling fleet reload (`spawning fleet reload`): hosts are reloaded a batch
 * at a time, in the order given; the next batch starts only when every host
 * of this one reported its new generation ready. The first host that cannot
 * load its new code stops the rollout there (canary abort): hosts of the same
 * batch already asked are waited for, later hosts are never asked and keep
 * the old code.
 *
 *   idle ─START─▶ starting ──▶ waiting ─(batch all ready, more hosts)─▶ starting
 *                                 │ (all ready, none left) ─▶ succeeded
 *                                 └ (batch settled, one failed) ─▶ aborted
 *
 * Pure: the runtime (src/fleet/rollout.ts) sends each reload request over
 * NATS and turns its reply, timeout or "no responders" into NODE_RELOADED or
 * NODE_FAILED.
 */
import { assign, enqueueActions, setup } from 'xstate';

export interface RolloutInput {
  /** Hosts in rollout order; the first batch is the canary. */
  nodes: string[];
  /** Hosts reloaded at once (--batch). */
  batch: number;
}

export interface NodeOutcome {
  node: string;
  ok: boolean;
  /** The generation serving after the reload (ok). */
  generation: number | null;
  /** Why the reload failed (not ok): the import error, a timeout, no responders. */
  error: string | null;
}

export interface RolloutContext extends RolloutInput {
  /** Index of the first node not asked yet. */
  next: number;
  inFlight: string[];
  outcomes: NodeOutcome[];
}

export type RolloutEvent =
  | { type: 'START' }
  | { type: 'NODE_RELOADED'; node: string; generation: number }
  | { type: 'NODE_FAILED'; node: string; error: string };

export interface RolloutActionParams {
  /** Ask this node to reload; answer with NODE_RELOADED or NODE_FAILED. */
  reloadNode: { node: string };
  /** A batch is starting (for the progress lines). */
  announceBatch: { nodes: string[]; index: number; of: number };
}

export const ROLLOUT_ACTIONS: readonly (keyof RolloutActionParams)[] = ['reloadNode', 'announceBatch'];

const settled = (context: RolloutContext): boolean => context.inFlight.length === 0;
const anyFailed = (context: RolloutContext): boolean => context.outcomes.some((o) => !o.ok);

export const fleetRolloutMachine = setup({
  types: {} as { context: RolloutContext; events: RolloutEvent; input: RolloutInput },
  actions: {
    reloadNode: (_, _params: RolloutActionParams['reloadNode']) => {},
    announceBatch: (_, _params: RolloutActionParams['announceBatch']) => {},
  },
  guards: {
    aborted: ({ context }) => settled(context) && anyFailed(context),
    moreToDo: ({ context }) => settled(context) && context.next < context.nodes.length,
    allDone: ({ context }) => settled(context) && context.next >= context.nodes.length,
    inFlight: ({ context, event }) => 'node' in event && context.inFlight.includes(event.node),
  },
}).createMachine({
  id: 'fleet-rollout',
  context: ({ input }) => ({ nodes: [...input.nodes], batch: Math.max(1, input.batch), next: 0, inFlight: [], outcomes: [] }),
  initial: 'idle',
  states: {
    idle: {
      on: { START: [{ guard: ({ context }) => context.nodes.length === 0, target: 'succeeded' }, { target: 'starting' }] },
    },
    starting: {
      entry: enqueueActions(({ context, enqueue }) => {
        const nodes = context.nodes.slice(context.next, context.next + context.batch);
        enqueue({
          type: 'announceBatch',
          params: { nodes, index: Math.floor(context.next / context.batch) + 1, of: Math.ceil(context.nodes.length / context.batch) },
        });
        enqueue.assign({ next: context.next + nodes.length, inFlight: nodes });
        for (const node of nodes) enqueue({ type: 'reloadNode', params: { node } });
      }),
      always: 'waiting',
    },
    waiting: {
      always: [
        { guard: 'aborted', target: 'aborted' },
        { guard: 'moreToDo', target: 'starting' },
        { guard: 'allDone', target: 'succeeded' },
      ],
      on: {
        NODE_RELOADED: {
          guard: 'inFlight',
          actions: assign({
            inFlight: ({ context, event }) => context.inFlight.filter((n) => n !== event.node),
            outcomes: ({ context, event }) => [...context.outcomes, { node: event.node, ok: true, generation: event.generation, error: null }],
          }),
        },
        NODE_FAILED: {
          guard: 'inFlight',
          actions: assign({
            inFlight: ({ context, event }) => context.inFlight.filter((n) => n !== event.node),
            outcomes: ({ context, event }) => [...context.outcomes, { node: event.node, ok: false, generation: null, error: event.error }],
          }),
        },
      },
    },
    succeeded: { type: 'final' },
    aborted: { type: 'final' },
  },
});

/** Hosts never asked to reload (they keep the old code), once the rollout is over. */
export function untouched(context: RolloutContext): string[] {
  return context.nodes.slice(context.next);
}
