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
  { type: 'WORKER_EXIT', code: 1, remaining: 0 },
  { type: 'WORKER_EXIT', code: 1, remaining: 1 },
  { type: 'WORKER_HUNG' },
  { type: 'WORKER_EVICT' },
  { type: 'REPLACEMENT_READY' },
  { type: 'REPLACEMENT_EXIT' },
  { type: 'RETIREE_IDLE', pid: 42 },
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

/** Every shortest path, and each of them followed by every event: so every transition is taken, not only every state reached. */
const sequences: ChildEvent[][] = paths.flatMap((p) => {
  const events = p.steps.map((s) => s.event);
  return [events, ...EVENTS.map((e) => [...events, e])];
});

interface Effects {
  log: string[];
  workerReady: boolean;
  /** A replacement was spawned and has neither become the worker nor been discarded. */
  replacementStarting: boolean;
  replacementReady: boolean;
  idleSeen: boolean;
  deadman: boolean;
  exitCode: number | null;
}

function replay(events: ChildEvent[], check: (s: Snapshot, fx: Effects, e: ChildEvent) => void): void {
  const fx: Effects = { log: [], workerReady: false, replacementStarting: false, replacementReady: false, idleSeen: false, deadman: false, exitCode: null };
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
        spawnReplacement: () => {
          assert.ok(!fx.replacementStarting, 'a second replacement while one is starting');
          fx.replacementStarting = true;
          fx.replacementReady = false;
          fx.log.push('spawnReplacement');
        },
        swapWorker: () => {
          assert.ok(fx.replacementStarting && fx.replacementReady, 'swapped in a replacement that is not ready');
          fx.replacementStarting = false;
          fx.log.push('swap');
        },
        killReplacement: () => {
          fx.replacementStarting = false;
          fx.log.push('killReplacement');
        },
        reportReplacementFailed: () => {
          fx.replacementStarting = false;
        },
        stopAccepting: () => fx.log.push('stopAccepting'),
        killRetiree: (_, { pid }) => fx.log.push(`killRetiree ${pid}`),
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
    // The runtime sends these only for a replacement it spawned, or for a worker it retired.
    if (e.type === 'REPLACEMENT_READY' || e.type === 'REPLACEMENT_EXIT') {
      if (!fx.replacementStarting) continue;
      if (e.type === 'REPLACEMENT_READY') fx.replacementReady = true;
    }
    if (e.type === 'IDLE' && actor.getSnapshot().matches('draining')) fx.idleSeen = true;
    if (e.type === 'DEADMAN') fx.deadman = true;
    // Events after the machine stopped change nothing and prove nothing.
    if (actor.getSnapshot().status === 'done') break;
    actor.send(e);
    check(actor.getSnapshot(), fx, e);
  }
}

describe('child machine (model-based)', () => {
  it('reaches every state', () => {
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    for (const v of ['configuring', 'startingWorker', 'serving', 'replacingWorker', 'restartingWorker', 'draining', 'stoppingWorker', 'stopped', 'failed']) {
      assert.ok(reached.has(JSON.stringify(v)), `no path reaches ${v}`);
    }
  });

  it('never listens or reports ready before its worker is ready, and listens once', () => {
    for (const events of sequences) {
      replay(
        events,
        (_s, fx) => assert.ok(fx.log.filter((l) => l === 'listen').length <= 1, 'listened twice'),
      );
    }
  });

  it('never exits 0 while serving requests unless drained to idle, the worker died, or the deadman fired', () => {
    for (const events of sequences) {
      replay(
        events,
        (s, fx, e) => {
          if (fx.exitCode !== 0 || !fx.log.includes('listen')) return;
          assert.ok(fx.idleSeen || fx.deadman || e.type === 'WORKER_EXIT' || fx.log.includes('kill'), `exit 0 after ${e.type} in ${JSON.stringify(s.value)}`);
        },
      );
    }
  });

  it("a load error exits with the worker's exit code", () => {
    for (const events of sequences) {
      replay(
        events,
        (s, fx) => {
          if (s.value === 'failed') {
            assert.equal(fx.exitCode, 3);
          }
        },
      );
    }
  });

  it('replaces a hung worker gracefully: one replacement at a time, swapped in only once ready, never while not accepting', () => {
    let swaps = 0;
    for (const events of sequences) {
      replay(
        events,
        (s, fx, e) => {
          if (e.type === 'WORKER_HUNG' && s.matches('replacingWorker')) {
            assert.ok(fx.log.includes('listen') && !fx.log.includes('stopAccepting'), 'replacing a worker of a child that is not serving');
          }
          if (fx.log.at(-1) === 'swap') {
            swaps++;
            assert.ok(s.matches('serving'), `swapped into ${JSON.stringify(s.value)}`);
          }
          // A replacement still starting is never left behind by a final state or a restart.
          if (s.status === 'done' || s.matches('restartingWorker') || s.matches('draining')) {
            assert.ok(!fx.replacementStarting || fx.log.includes('kill'), `a replacement left running in ${JSON.stringify(s.value)}`);
          }
        },
      );
    }
    assert.ok(swaps > 0, 'no path swaps in a replacement');
  });

  it('kills a retired worker only when it is idle, in any state', () => {
    for (const events of sequences) {
      replay(
        events,
        (_s, fx, e) => {
          const kills = fx.log.filter((l) => l.startsWith('killRetiree'));
          const idles = events.filter((ev) => ev.type === 'RETIREE_IDLE');
          assert.ok(kills.length <= idles.length, 'killed a retiree that did not report idle');
          if (e.type === 'RETIREE_IDLE' && _s.status === 'active') assert.equal(fx.log.at(-1), 'killRetiree 42');
        },
      );
    }
  });
});
