/** Model-based tests of machines/child.ts: every shortest path, invariants on each step. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { childMachine, type ChildEvent } from '../../machines/child.js';

type Snapshot = SnapshotFrom<typeof childMachine>;

const EVENTS: ChildEvent[] = [
  { type: 'START' },
  { type: 'WORKER_READY' },
  { type: 'WORKER_LOAD_ERROR', error: { kind: 'syntax-error', message: 'SyntaxError', where: 'app.py:1', traceback: '' }, code: 3 },
  { type: 'WORKER_EXIT', code: 1 },
  { type: 'RESTART_DUE' },
  { type: 'HEALTHY' },
  { type: 'DRAIN' },
  { type: 'IDLE' },
  { type: 'DEADMAN' },
];

const paths = getShortestPaths(childMachine, {
  events: EVENTS,
  serializeState: (s) => JSON.stringify([s.value, s.context.listening, Math.min(s.context.restarts, 2), s.status]),
});

interface Effects {
  log: string[];
  workerReady: boolean;
  idleSeen: boolean;
  deadman: boolean;
  exitCode: number | null;
}

function replay(events: ChildEvent[], check: (s: Snapshot, fx: Effects, e: ChildEvent) => void): void {
  const fx: Effects = { log: [], workerReady: false, idleSeen: false, deadman: false, exitCode: null };
  const actor = createActor(
    childMachine.provide({
      actions: {
        spawnWorker: () => {
          fx.workerReady = false;
          fx.log.push('spawnWorker');
        },
        listen: () => {
          assert.ok(fx.workerReady, 'listened before the worker was ready');
          fx.log.push('listen');
        },
        reportReady: () => {
          assert.ok(fx.workerReady, 'reported ready before the worker was ready');
          fx.log.push('ready');
        },
        killEverything: () => fx.log.push('kill'),
        exit: (_, { code }) => {
          assert.equal(fx.exitCode, null, 'exit runs once');
          fx.exitCode = code;
        },
      },
    }),
  );
  actor.start();
  for (const e of events) {
    if (e.type === 'WORKER_READY' && actor.getSnapshot().matches('startingWorker')) fx.workerReady = true;
    if (e.type === 'IDLE' && actor.getSnapshot().matches('draining')) fx.idleSeen = true;
    if (e.type === 'DEADMAN') fx.deadman = true;
    actor.send(e);
    check(actor.getSnapshot(), fx, e);
  }
}

describe('child machine (model-based)', () => {
  it('reaches every state', () => {
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    for (const v of ['configuring', 'startingWorker', 'serving', 'restartingWorker', 'draining', 'stoppingWorker', 'stopped', 'failed']) {
      assert.ok(reached.has(JSON.stringify(v)), `no path reaches ${v}`);
    }
  });

  it('never listens or reports ready before its worker is ready, and listens once', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (_s, fx) => assert.ok(fx.log.filter((l) => l === 'listen').length <= 1, 'listened twice'),
      );
    }
  });

  it('never exits 0 while serving requests unless drained to idle, the worker died, or the deadman fired', () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (s, fx, e) => {
          if (fx.exitCode !== 0 || !fx.log.includes('listen')) return;
          assert.ok(fx.idleSeen || fx.deadman || e.type === 'WORKER_EXIT' || fx.log.includes('kill'), `exit 0 after ${e.type} in ${JSON.stringify(s.value)}`);
        },
      );
    }
  });

  it("a load error exits with the worker's exit code", () => {
    for (const p of paths) {
      replay(
        p.steps.map((s) => s.event),
        (s, fx) => {
          if (s.value === 'failed') {
            assert.equal(fx.exitCode, 3);
          }
        },
      );
    }
  });
});
