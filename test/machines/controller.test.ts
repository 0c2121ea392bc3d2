/**
 * Model-based tests of machines/controller.ts: xstate/graph walks every
 * shortest path (two children), each path is replayed against an actor whose
 * effects are recorded, and invariants are checked after every step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { controllerMachine, respawnDelay, type ControllerEvent } from '../../machines/controller.js';

type Snapshot = SnapshotFrom<typeof controllerMachine>;
const LOAD_ERROR = { kind: 'module-not-found', message: "No module named 'x'", where: '', traceback: '' };

function eventsFor(s: Snapshot): ControllerEvent[] {
  const events: ControllerEvent[] = [{ type: 'START' }, { type: 'STOP' }, { type: 'STOP_NOW' }, { type: 'DEADMAN' }];
  events.push({ type: 'UPGRADE' }, { type: 'SUCCESSOR_READY' }, { type: 'SUCCESSOR_FAILED', reason: 'exit 3' });
  // Events that add children are offered only while few are alive, so the model stays finite.
  const roomy = s.context.children.length < 3;
  if (roomy) events.push({ type: 'RELOAD' });
  for (const c of s.context.children) {
    events.push({ type: 'CHILD_READY', id: c.id }, { type: 'CHILD_EXIT', id: c.id });
    events.push({ type: 'CHILD_LOAD_ERROR', id: c.id, error: LOAD_ERROR, code: 3 });
    events.push({ type: 'CHILD_DEADMAN', id: c.id });
    // One worker pid per child is enough: the machine keys an eviction by child and pid.
    events.push({ type: 'EVICT', id: c.id, pid: 100 + c.id, reason: 'memory' });
    events.push({ type: 'WORKER_EVICTED', id: c.id, oldPid: 100 + c.id, newPid: 500, outcome: 'replaced' }, { type: 'WORKER_EVICTED', id: c.id, oldPid: 100 + c.id, newPid: 0, outcome: 'failed' });
  }
  for (let slot = 0; slot < s.context.processes; slot++) {
    if (roomy && !s.context.children.some((c) => c.slot === slot)) events.push({ type: 'RESPAWN_DUE', slot });
    events.push({ type: 'CHILD_HEALTHY', slot });
  }
  return events;
}

/** Ids grow forever; the shape that matters is per slot: its state and a capped attempt count. */
function serialize(s: Snapshot): string {
  const gen = s.context.generation;
  const slots = [...s.context.children]
    .map((c) => `${c.slot}:${c.state}:${Math.max(-1, c.generation - gen)}:${c.id === s.context.evicting?.id ? 'evicting' : ''}`)
    .sort();
  return JSON.stringify([s.value, s.context.processes, slots, s.context.attempts.map((a) => Math.min(a, 1)), s.context.everReady, s.context.reloadPending, s.context.upgradePending, s.status]);
}

interface Effects {
  log: string[];
  drained: number[];
  killedIds: number[];
  spawned: number;
  spawnedThisStep: number;
  respawnDelays: Map<number, number[]>;
  exitCode: number | null;
  killed: boolean;
  /** Evictions asked of a child, and evictions reported (done or not). */
  evictions: { asked: number; reported: number };
}

function replay(
  events: ControllerEvent[],
  check: (s: Snapshot, fx: Effects, e: ControllerEvent, before: Snapshot) => void,
  processes = 1,
): void {
  const fx: Effects = { log: [], drained: [], killedIds: [], spawned: 0, spawnedThisStep: 0, respawnDelays: new Map(), exitCode: null, killed: false, evictions: { asked: 0, reported: 0 } };
  const actor = createActor(
    controllerMachine.provide({
      actions: {
        spawnChild: () => {
          fx.spawned++;
          fx.spawnedThisStep++;
          fx.log.push('spawn');
        },
        drainChild: (_, { id }) => {
          fx.log.push('drain');
          fx.drained.push(id);
        },
        drainChildren: (_, { ids }) => {
          fx.log.push('drain');
          fx.drained.push(...ids);
        },
        killChild: (_, { id }) => fx.killedIds.push(id),
        killAll: () => {
          fx.killed = true;
          fx.log.push('kill');
        },
        scheduleRespawn: (_, { slot, delayMs }) => fx.respawnDelays.set(slot, [...(fx.respawnDelays.get(slot) ?? []), delayMs]),
        closeSocket: () => fx.log.push('closeSocket'),
        evictWorker: () => fx.evictions.asked++,
        reportEvicted: () => fx.evictions.reported++,
        startSuccessor: () => fx.log.push('startSuccessor'),
        stopSuccessor: () => fx.log.push('stopSuccessor'),
        exit: (_, { code }) => {
          assert.equal(fx.exitCode, null, 'exit runs once');
          fx.exitCode = code;
        },
      },
    }),
    { input: { processes } },
  );
  actor.start();
  for (const e of events) {
    const before = actor.getSnapshot();
    fx.drained = [];
    fx.killedIds = [];
    fx.spawnedThisStep = 0;
    actor.send(e);
    check(actor.getSnapshot(), fx, e, before);
  }
}

/** Replays `events` on `processes` slots: the children drained at each step, and the snapshot after the last. */
function drainsOf(events: ControllerEvent[], processes: number): { drained: number[][]; last: Snapshot } {
  const drained: number[][] = [];
  let last: Snapshot | undefined;
  replay(events, (s, fx) => {
    drained.push([...fx.drained]);
    last = s;
  }, processes);
  return { drained, last: last! };
}

// One slot keeps the state space small enough to walk whole (a reload adds a child);
// two-slot sequences and TTIN/TTOU are checked by the explicit sequences below.
const paths = getShortestPaths(controllerMachine, {
  input: { processes: 1 },
  events: eventsFor,
  serializeState: serialize,
  limit: 200_000,
});

describe('controller machine (model-based)', () => {
  it('reaches every kind of state', () => {
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    const running = (sub: string): string => JSON.stringify({ active: { running: sub } });
    for (const v of ['"idle"', '{"active":"starting"}', running('steady'), running('reloading'), running('evicting'), running('upgrading'), '"handingOver"', '"handedOver"', '"stopping"', '"stopped"', '"killed"', '"failed"']) {
      assert.ok(reached.has(v), `no path reaches ${v}`);
    }
    assert.ok(paths.length > 50, `only ${paths.length} paths`);
  });

  it('has one worker evicted at a time, and every eviction asked for reported once, unless the controller stops', () => {
    let evicted = 0;
    const check = (s: Snapshot, fx: Effects, e: ControllerEvent, before: Snapshot): void => {
      const { asked, reported } = fx.evictions;
      const evicting = s.matches({ active: { running: 'evicting' } });
      if (s.matches('active')) assert.equal(asked - reported, evicting ? 1 : 0, `after ${e.type} in ${JSON.stringify(s.value)}: asked ${asked}, reported ${reported}`);
      else assert.ok(asked - reported <= 1);
      if (evicting) assert.ok(s.context.children.some((c) => c.id === s.context.evicting?.id && c.state === 'ready'), 'evicting in a child that is not serving');
      if (e.type === 'WORKER_EVICTED' && e.outcome === 'replaced' && before.matches({ active: { running: 'evicting' } }) && !evicting) evicted++;
    };
    for (const p of paths) {
      const events = p.steps.map((s) => s.event);
      replay(events, check);
      // Every way out of an eviction: done, failed, the child gone, a reload asked meanwhile, a stop.
      const ev = p.state.context.evicting;
      if (!ev) continue;
      for (const end of [
        { type: 'WORKER_EVICTED', id: ev.id, oldPid: ev.pid, newPid: 500, outcome: 'replaced' },
        { type: 'WORKER_EVICTED', id: ev.id, oldPid: ev.pid, newPid: 0, outcome: 'failed' },
        { type: 'WORKER_EVICTED', id: ev.id, oldPid: ev.pid, newPid: 0, outcome: 'refused' },
        { type: 'CHILD_EXIT', id: ev.id },
        { type: 'DECREASE' },
        { type: 'STOP' },
      ] satisfies ControllerEvent[]) {
        replay([...events, end], check);
        replay([...events, { type: 'RELOAD' }, end], check);
      }
    }
    assert.ok(evicted > 0, 'no path completes an eviction');
  });

  it('never closes the listening socket while it is serving or draining', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (s, fx) => {
          if (fx.log.includes('closeSocket')) assert.equal(s.status, 'done', `socket closed in ${JSON.stringify(s.value)}`);
        },
      );
    }
  });

  it('exits only in a final state, and with children alive only after killing them', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (s, fx) => {
          if (fx.exitCode === null) return;
          assert.equal(s.status, 'done');
          if (s.context.children.length > 0) assert.ok(fx.killed, `exited with ${s.context.children.length} children alive`);
        },
      );
    }
  });

  it('a load error before anything was served always ends in exit 3', () => {
    for (const p of paths) {
      let servedBefore = false;
      replay(
        p.steps.map((s) => s.event),
        (s, fx, e) => {
          if (s.matches({ active: 'running' })) servedBefore = true;
          if (e.type === 'CHILD_LOAD_ERROR' && !servedBefore && s.value !== 'stopping' && s.value !== 'stopped' && s.value !== 'killed') {
            assert.equal(s.value, 'failed');
            assert.equal(fx.exitCode, 3);
          }
        },
      );
    }
  });

  it('never spawns a child once stopping', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (_s, fx, e, before) => {
          if (before.matches('stopping') || before.status === 'done') assert.equal(fx.spawnedThisStep, 0, `spawned on ${e.type} while stopping`);
        },
      );
    }
  });

  it('drains a serving child only once a ready replacement holds its slot (or the slot was removed)', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (s, fx, e, before) => {
          if (!s.matches('active') || e.type === 'DECREASE') return;
          for (const id of fx.drained) {
            const old = before.context.children.find((c) => c.id === id)!;
            if (old.state !== 'ready' || old.generation > before.context.generation) continue; // failed new children may go at once
            const successor = s.context.children.find((c) => c.slot === old.slot && c.id !== id && c.state === 'ready');
            assert.ok(successor, `child ${id} (slot ${old.slot}) drained after ${e.type} with no ready successor`);
          }
        },
      );
    }
  });

  it('kills a draining child only after its deadman fired', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (_s, fx, e) => {
          for (const id of fx.killedIds) assert.ok(e.type === 'CHILD_DEADMAN' && e.id === id, `child ${id} killed on ${e.type}`);
        },
      );
    }
  });

  for (const [what, pending] of [['reload', 'reloadPending'], ['upgrade', 'upgradePending']] as const) {
    it(`never loses ${what === 'upgrade' ? 'an' : 'a'} ${what} asked for during another operation`, () => {
      let sawPending = false;
      for (const p of paths) {
        replay(
          p.steps.map((s) => s.event),
          (s) => {
            if (s.context[pending]) sawPending = true;
            assert.ok(!(s.matches({ active: { running: 'steady' } }) && s.context[pending]), `a pending ${what} was dropped`);
          },
        );
      }
      assert.ok(sawPending, `no path queues ${what === 'upgrade' ? 'an' : 'a'} ${what}`);
    });
  }

  it('hands over only once the successor serves, and keeps serving when it fails', () => {
    let sawHandover = false;
    let sawFailure = false;
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (s, fx, e, before) => {
          if (s.matches('handingOver') && !before.matches('handingOver')) {
            sawHandover = true;
            assert.equal(e.type, 'SUCCESSOR_READY');
            assert.ok(before.matches({ active: { running: 'upgrading' } }));
          }
          if (e.type === 'SUCCESSOR_FAILED' && before.matches({ active: { running: 'upgrading' } })) {
            sawFailure = true;
            assert.ok(s.matches({ active: 'running' }), `a failed upgrade left ${JSON.stringify(s.value)}`);
            assert.deepEqual(fx.drained, [], 'a failed upgrade drains nothing');
          }
          if (e.type === 'UPGRADE' && before.matches({ active: { running: 'steady' } })) assert.ok(fx.log.at(-1) === 'startSuccessor');
          if (e.type === 'STOP' && before.matches({ active: { running: 'upgrading' } })) assert.ok(fx.log.includes('stopSuccessor'));
          if (s.value === 'handedOver') assert.equal(fx.exitCode, 0);
        },
      );
    }
    assert.ok(sawHandover, 'no path hands over');
    // Shortest paths end where a failed upgrade leads (steady) by a shorter way: walk it explicitly.
    const failing: ControllerEvent[] = [
      { type: 'START' }, { type: 'CHILD_READY', id: 1 }, { type: 'UPGRADE' }, { type: 'RELOAD' }, { type: 'SUCCESSOR_FAILED', reason: 'exit 3' },
    ];
    replay(failing, (s, fx, e, before) => {
      if (e.type !== 'SUCCESSOR_FAILED') return;
      sawFailure = true;
      assert.ok(before.matches({ active: { running: 'upgrading' } }));
      assert.deepEqual(fx.drained, [], 'a failed upgrade drains nothing');
      assert.ok(s.matches({ active: { running: 'reloading' } }), 'the reload asked for meanwhile runs next');
      assert.deepEqual(s.context.children.filter((c) => c.state === 'ready').map((c) => c.id), [1]);
    });
    assert.ok(sawFailure);
  });

  it('an upgrade drains every child only after SUCCESSOR_READY', () => {
    const events: ControllerEvent[] = [
      { type: 'START' }, { type: 'CHILD_READY', id: 1 }, { type: 'CHILD_READY', id: 2 },
      { type: 'UPGRADE' }, { type: 'CHILD_EXIT', id: 2 }, { type: 'RESPAWN_DUE', slot: 1 }, { type: 'CHILD_READY', id: 3 },
      { type: 'SUCCESSOR_READY' }, { type: 'CHILD_EXIT', id: 1 }, { type: 'CHILD_EXIT', id: 3 },
    ];
    const { drained, last } = drainsOf(events, 2);
    assert.deepEqual(drained.slice(0, 7).flat(), [], 'the children keep serving (and a crashed one is replaced) while the successor starts');
    assert.deepEqual(drained[7]!.sort(), [1, 3]);
    assert.equal(last.value, 'handedOver');
  });

  it('a failed reload keeps the old generation serving', () => {
    const events: ControllerEvent[] = [
      { type: 'START' }, { type: 'CHILD_READY', id: 1 }, { type: 'CHILD_READY', id: 2 },
      { type: 'RELOAD' }, { type: 'CHILD_READY', id: 3 },
      { type: 'CHILD_LOAD_ERROR', id: 4, error: LOAD_ERROR, code: 3 },
    ];
    const { drained, last } = drainsOf(events, 2);
    assert.deepEqual(drained.flat().sort(), [3, 4]);
    assert.equal(last.context.generation, 1);
    assert.deepEqual(last.context.children.filter((c) => c.state === 'ready' && c.generation === 1).map((c) => c.id), [1, 2]);
  });

  it('a reload drains the old generation once every new child is ready', () => {
    const events: ControllerEvent[] = [
      { type: 'START' }, { type: 'CHILD_READY', id: 1 }, { type: 'CHILD_READY', id: 2 },
      { type: 'RELOAD' }, { type: 'RELOAD' }, { type: 'CHILD_READY', id: 3 }, { type: 'CHILD_READY', id: 4 },
    ];
    const { drained, last } = drainsOf(events, 2);
    assert.deepEqual(drained.slice(0, 6).flat(), [], 'nothing drains before both new children are ready');
    assert.deepEqual(drained[6]!.sort(), [1, 2]);
    assert.equal(last.context.generation, 2);
    assert.ok(last.matches({ active: { running: 'reloading' } }), 'the coalesced second reload starts right away');
  });

  it('respawn delays grow for a slot that keeps failing', () => {
    const events: ControllerEvent[] = [{ type: 'START' }];
    let id = 1;
    for (let i = 0; i < 8; i++) {
      events.push({ type: 'CHILD_EXIT', id }, { type: 'RESPAWN_DUE', slot: 0 });
      id = i === 0 ? 3 : id + 1;
    }
    let delays: number[] = [];
    replay(events, (_s, fx) => {
      delays = fx.respawnDelays.get(0) ?? [];
    }, 2);
    assert.deepEqual(delays, [0, 1, 2, 3, 4, 5, 6, 7].map(respawnDelay));
    assert.deepEqual(delays.slice(0, 4), [100, 200, 400, 800]);
    assert.equal(respawnDelay(20), 10_000);
  });
});
