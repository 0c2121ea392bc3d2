/**
 * machines/fleet-rollout.ts: every shortest and simple path for three hosts,
 * batches of one and of two, replayed with the rollout's invariants checked
 * after each step: never more than a batch in flight, a batch starts only
 * when the previous one is all ready, nothing is asked after a failure, each
 * host at most once, and the end state tells success from canary abort.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, type SnapshotFrom } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { ROLLOUT_ACTIONS, fleetRolloutMachine, untouched, type RolloutEvent, type RolloutInput } from '../../machines/fleet-rollout.js';

type Snapshot = SnapshotFrom<typeof fleetRolloutMachine>;
const NODES = ['a', 'b', 'c'];

function eventsFor(nodes: string[]): RolloutEvent[] {
  return [{ type: 'START' }, ...nodes.flatMap((node): RolloutEvent[] => [
    { type: 'NODE_RELOADED', node, generation: 2 },
    { type: 'NODE_FAILED', node, error: "No module named 'broken'" },
  ])];
}

function replay(input: RolloutInput, events: readonly RolloutEvent[]): { asked: string[]; batches: string[][]; snapshot: Snapshot } {
  const asked: string[] = [];
  const batches: string[][] = [];
  const reported = new Set<string>();
  let failedSeen = false;
  const actor = createActor(
    fleetRolloutMachine.provide({
      actions: {
        reloadNode: (_, { node }) => {
          assert.ok(!failedSeen, `${node} asked to reload after a failure`);
          assert.ok(!asked.includes(node), `${node} asked twice`);
          const previous = batches.at(-2) ?? [];
          for (const p of previous) assert.ok(reported.has(p), `${node} asked before ${p} of the previous batch was ready`);
          asked.push(node);
        },
        announceBatch: (_, { nodes }) => {
          assert.ok(nodes.length > 0 && nodes.length <= input.batch);
          batches.push(nodes);
        },
      },
    }),
    { input },
  );
  actor.start();
  for (const e of events) {
    // The next batch is asked for while this event is handled: record the reply first.
    if (e.type !== 'START' && actor.getSnapshot().context.inFlight.includes(e.node)) {
      reported.add(e.node);
      if (e.type === 'NODE_FAILED') failedSeen = true;
    }
    actor.send(e);
    const s = actor.getSnapshot();
    assert.notEqual(s.status, 'error', String(s.error));
    assert.ok(s.context.inFlight.length <= input.batch, `${s.context.inFlight.length} in flight`);
    if (s.matches('succeeded')) {
      assert.deepEqual(asked, input.nodes);
      assert.ok(s.context.outcomes.every((o) => o.ok) && s.context.outcomes.length === input.nodes.length);
    }
    if (s.matches('aborted')) {
      assert.ok(s.context.outcomes.some((o) => !o.ok));
      assert.equal(s.context.inFlight.length, 0, 'aborted while hosts were still reloading');
      for (const n of untouched(s.context)) assert.ok(!asked.includes(n));
    }
  }
  return { asked, batches, snapshot: actor.getSnapshot() };
}

describe('fleet rollout machine (model-based)', () => {
  for (const batch of [1, 2]) {
    const input = { nodes: NODES, batch };
    const model = createTestModel(fleetRolloutMachine, { input } as never);
    const serializeState = (s: Snapshot): string => JSON.stringify([s.value, s.context.next, s.context.inFlight, s.context.outcomes.map((o) => [o.node, o.ok])]);
    const shortest = model.getShortestPaths({ events: eventsFor(NODES), serializeState });
    const simple = model.getSimplePaths({ events: eventsFor(NODES), serializeState });

    it(`batch ${batch}: holds the invariants on every shortest (${shortest.length}) and simple (${simple.length}) path`, () => {
      assert.ok(shortest.length >= 4 && simple.length >= 4);
      const ends = new Set<string>();
      for (const p of [...shortest, ...simple]) {
        const { snapshot } = replay(input, p.steps.map((s) => s.event));
        ends.add(JSON.stringify(snapshot.value));
      }
      assert.ok(ends.has('"succeeded"') && ends.has('"aborted"'), [...ends].join());
    });
  }

  it('declares every action the runtime must provide', () => {
    const implemented = Object.keys(fleetRolloutMachine.implementations.actions);
    for (const a of ROLLOUT_ACTIONS) assert.ok(implemented.includes(a), a);
  });
});

describe('fleet rollout machine (event sequences)', () => {
  it('reloads host by host and succeeds', () => {
    const { asked, batches, snapshot } = replay({ nodes: NODES, batch: 1 }, [
      { type: 'START' },
      { type: 'NODE_RELOADED', node: 'a', generation: 2 },
      { type: 'NODE_RELOADED', node: 'b', generation: 5 },
      { type: 'NODE_RELOADED', node: 'c', generation: 2 },
    ]);
    assert.ok(snapshot.matches('succeeded'));
    assert.deepEqual(asked, NODES);
    assert.deepEqual(batches, [['a'], ['b'], ['c']]);
  });

  it('stops at the first host whose new code fails; later hosts are never asked', () => {
    const { asked, snapshot } = replay({ nodes: NODES, batch: 1 }, [
      { type: 'START' },
      { type: 'NODE_RELOADED', node: 'a', generation: 2 },
      { type: 'NODE_FAILED', node: 'b', error: 'SyntaxError' },
    ]);
    assert.ok(snapshot.matches('aborted'));
    assert.deepEqual(asked, ['a', 'b']);
    assert.deepEqual(untouched(snapshot.context), ['c']);
    assert.deepEqual(snapshot.context.outcomes.find((o) => !o.ok), { node: 'b', ok: false, generation: null, error: 'SyntaxError' });
  });

  it('waits for the rest of a failed batch before aborting', () => {
    const { snapshot } = replay({ nodes: NODES, batch: 2 }, [{ type: 'START' }, { type: 'NODE_FAILED', node: 'a', error: 'x' }]);
    assert.ok(snapshot.matches('waiting'));
    assert.deepEqual(snapshot.context.inFlight, ['b']);
  });

  it('ignores replies from hosts it is not waiting for', () => {
    const { snapshot } = replay({ nodes: NODES, batch: 1 }, [
      { type: 'START' },
      { type: 'NODE_RELOADED', node: 'c', generation: 2 },
      { type: 'NODE_FAILED', node: 'b', error: 'x' },
    ]);
    assert.deepEqual(snapshot.context.inFlight, ['a']);
    assert.deepEqual(snapshot.context.outcomes, []);
  });

  it('an empty fleet has nothing to do', () => {
    assert.ok(replay({ nodes: [], batch: 1 }, [{ type: 'START' }]).snapshot.matches('succeeded'));
  });
});
