/**
 * machines/status.ts: every shortest and simple path through the machine is
 * replayed with recorded actions, and on every step /healthz's verdict is
 * checked against what a load balancer must see.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, type SnapshotFrom } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { STATUS_ACTIONS, healthOf, healthy, statusMachine, type StatusEvent } from '../../machines/status.js';

type Snapshot = SnapshotFrom<typeof statusMachine>;

const EVENTS: StatusEvent[] = [
  { type: 'BOUND', url: 'http://127.0.0.1:9000' },
  { type: 'BIND_FAILED', message: 'EADDRINUSE' },
  { type: 'CHILDREN', ready: 0, configured: 2 },
  { type: 'CHILDREN', ready: 1, configured: 2 },
  { type: 'CHILDREN', ready: 2, configured: 2 },
  { type: 'HOST_DRAIN' },
  { type: 'HOST_RESTORE' },
  { type: 'CONTROLLER_STOPPING' },
  { type: 'CLOSE' },
];

interface Recording {
  announced: string[];
  closes: number;
  health: string[];
}

/** Replays `events`, checking every step against the last CHILDREN counts and the drain/stop history. */
function replay(events: readonly StatusEvent[]): Recording {
  const rec: Recording = { announced: [], closes: 0, health: [] };
  const actor = createActor(
    statusMachine.provide({
      actions: {
        announce: (_, { url }) => rec.announced.push(url),
        close: () => rec.closes++,
      },
    }),
  );
  actor.start();
  let ready = 0;
  let configured = 0;
  let bound = false;
  let drained = false;
  let stopping = false;
  for (const event of events) {
    const before = actor.getSnapshot();
    actor.send(event);
    const snapshot: Snapshot = actor.getSnapshot();
    if (before.status === 'done') {
      assert.deepEqual(snapshot.value, before.value, 'a finished status service moved');
      continue;
    }
    if (event.type === 'BOUND' && before.matches('binding')) bound = true;
    if (event.type === 'CHILDREN' && bound) [ready, configured] = [event.ready, event.configured];
    if (event.type === 'CONTROLLER_STOPPING' && snapshot.matches('listening')) stopping = true;
    if (event.type === 'HOST_DRAIN' && (before.matches({ listening: 'serving' }) || before.matches({ listening: 'degraded' }))) drained = true;
    if (event.type === 'HOST_RESTORE' && before.matches({ listening: 'outOfRotation' })) drained = false;
    const health = healthOf(snapshot);
    rec.health.push(health);
    if (snapshot.matches('listening')) {
      assert.equal(snapshot.context.ready, ready, 'counts follow the last CHILDREN');
      assert.equal(healthy(health), !stopping && !drained && ready > 0, `health ${health} with ${ready}/${configured} ready, drained=${drained}, stopping=${stopping}`);
      if (!stopping && !drained && ready > 0) assert.equal(health, ready >= configured ? 'serving' : 'degraded');
    } else {
      assert.ok(!healthy(health), `${JSON.stringify(snapshot.value)} must not answer 200`);
    }
  }
  assert.ok(rec.closes <= 1, 'closed twice');
  assert.ok(rec.announced.length <= 1, 'announced twice');
  return rec;
}

describe('status machine (model-based)', () => {
  const model = createTestModel(statusMachine);
  const shortest = model.getShortestPaths({ events: EVENTS });
  const simple = model.getSimplePaths({
    events: EVENTS,
    serializeState: (s: Snapshot) => JSON.stringify([s.value, s.context.ready > 0, s.context.ready >= s.context.configured]),
  });

  it('reaches every state', () => {
    const reached = new Set([...shortest, ...simple].map((p) => JSON.stringify(p.state.value)));
    for (const s of ['warmingUp', 'serving', 'degraded', 'outOfRotation', 'stopping']) {
      assert.ok(reached.has(JSON.stringify({ listening: s })), `listening.${s} unreachable`);
    }
    for (const s of ['failed', 'closed']) assert.ok(reached.has(JSON.stringify(s)), `${s} unreachable`);
  });

  it(`answers /healthz correctly on every shortest path (${shortest.length}) and simple path (${simple.length})`, () => {
    assert.ok(shortest.length >= 8 && simple.length > 20, `${shortest.length} shortest, ${simple.length} simple`);
    for (const p of [...shortest, ...simple]) replay(p.steps.map((s) => s.event));
  });

  it('declares every action the runtime must provide', () => {
    const implemented = Object.keys(statusMachine.implementations.actions);
    for (const a of STATUS_ACTIONS) assert.ok(implemented.includes(a), a);
  });
});

describe('status machine (event sequences)', () => {
  const bound: StatusEvent = { type: 'BOUND', url: 'http://127.0.0.1:9000' };

  it('answers 503 until a child is ready, then 200', () => {
    const rec = replay([bound, { type: 'CHILDREN', ready: 0, configured: 4 }, { type: 'CHILDREN', ready: 4, configured: 4 }]);
    assert.deepEqual(rec.health, ['starting', 'starting', 'serving']);
    assert.deepEqual(rec.announced, ['http://127.0.0.1:9000']);
  });

  it('never answers 200 again once the controller stops, even as children come and go', () => {
    const rec = replay([bound, { type: 'CHILDREN', ready: 2, configured: 2 }, { type: 'CONTROLLER_STOPPING' }, { type: 'CHILDREN', ready: 2, configured: 2 }, { type: 'HOST_RESTORE' }]);
    assert.deepEqual(rec.health.slice(1), ['serving', 'stopping', 'stopping', 'stopping']);
  });

  it('a drained host stays out of rotation until restored, then follows the counts', () => {
    const rec = replay([bound, { type: 'CHILDREN', ready: 2, configured: 2 }, { type: 'HOST_DRAIN' }, { type: 'CHILDREN', ready: 1, configured: 2 }, { type: 'HOST_RESTORE' }]);
    assert.deepEqual(rec.health.slice(1), ['serving', 'draining', 'draining', 'degraded']);
  });
});
