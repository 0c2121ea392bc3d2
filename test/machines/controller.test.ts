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
  for (const c of s.context.children) {
    events.push({ type: 'CHILD_READY', id: c.id }, { type: 'CHILD_EXIT', id: c.id });
    events.push({ type: 'CHILD_LOAD_ERROR', id: c.id, error: LOAD_ERROR, code: 3 });
  }
  for (let slot = 0; slot < s.context.processes; slot++) {
    if (!s.context.children.some((c) => c.slot === slot)) events.push({ type: 'RESPAWN_DUE', slot });
    events.push({ type: 'CHILD_HEALTHY', slot });
  }
  return events;
}

/** Ids grow forever; the shape that matters is per slot: its state and a capped attempt count. */
function serialize(s: Snapshot): string {
  const slots = [...s.context.children].sort((a, b) => a.slot - b.slot).map((c) => `${c.slot}:${c.state}`);
  return JSON.stringify([s.value, slots, s.context.attempts.map((a) => Math.min(a, 2)), s.context.everReady, s.status]);
}

interface Effects {
  log: string[];
  spawned: number;
  respawnDelays: Map<number, number[]>;
  exitCode: number | null;
  killed: boolean;
}

function replay(events: ControllerEvent[], check: (s: Snapshot, fx: Effects, e: ControllerEvent) => void): void {
  const fx: Effects = { log: [], spawned: 0, respawnDelays: new Map(), exitCode: null, killed: false };
  const actor = createActor(
    controllerMachine.provide({
      actions: {
        spawnChild: () => {
          fx.spawned++;
          fx.log.push('spawn');
        },
        drainChild: () => fx.log.push('drain'),
        killAll: () => {
          fx.killed = true;
          fx.log.push('kill');
        },
        scheduleRespawn: (_, { slot, delayMs }) => fx.respawnDelays.set(slot, [...(fx.respawnDelays.get(slot) ?? []), delayMs]),
        closeSocket: () => fx.log.push('closeSocket'),
        exit: (_, { code }) => {
          assert.equal(fx.exitCode, null, 'exit runs once');
          fx.exitCode = code;
        },
      },
    }),
    { input: { processes: 2 } },
  );
  actor.start();
  for (const e of events) {
    actor.send(e);
    check(actor.getSnapshot(), fx, e);
  }
}

const paths = getShortestPaths(controllerMachine, {
  input: { processes: 2 },
  events: eventsFor,
  serializeState: serialize,
  limit: 20_000,
});

describe('controller machine (model-based)', () => {
  it('reaches every kind of state', () => {
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    for (const v of ['"idle"', '{"active":"starting"}', '{"active":"running"}', '"stopping"', '"stopped"', '"killed"', '"failed"']) {
      assert.ok(reached.has(v), `no path reaches ${v}`);
    }
    assert.ok(paths.length > 50, `only ${paths.length} paths`);
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
        (s, fx) => {
          if (s.value === 'stopping' || s.status === 'done') {
            const after = fx.log.lastIndexOf('spawn');
            const drainOrKill = Math.max(fx.log.indexOf('drain'), fx.log.indexOf('kill'), fx.log.indexOf('closeSocket'));
            if (drainOrKill >= 0) assert.ok(after < drainOrKill, 'spawned after stopping began');
          }
        },
      );
    }
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
    });
    assert.deepEqual(delays, [0, 1, 2, 3, 4, 5, 6, 7].map(respawnDelay));
    assert.deepEqual(delays.slice(0, 4), [100, 200, 400, 800]);
    assert.equal(respawnDelay(20), 10_000);
  });
});
