/**
 * machines/reloader.ts: xstate/graph generates the shortest and the simple
 * paths through the machine; each path is replayed against an actor whose
 * actions are recorded, with invariants checked on every step. Then direct
 * event sequences for the cases worth reading on their own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, type SnapshotFrom } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { RELOADER_ACTIONS, reloaderMachine, type ReloaderEvent } from '../../machines/reloader.js';

type Snapshot = SnapshotFrom<typeof reloaderMachine>;

const A = '/app/a.py';
const B = '/app/b.py';

const ALL_EVENTS: ReloaderEvent[] = [
  { type: 'WATCH', files: [A] },
  { type: 'WATCH', files: [A, B] },
  { type: 'CHANGED', file: A },
  { type: 'CHANGED', file: B },
  { type: 'DEBOUNCE_ELAPSED' },
  { type: 'RELOAD_STARTED' },
  { type: 'RELOAD_FINISHED', ok: true },
  { type: 'RELOAD_FINISHED', ok: false },
  { type: 'STOP' },
];

/** Simple paths grow fast with the number of events: a smaller alphabet that still covers every state. */
const CORE_EVENTS: ReloaderEvent[] = [
  { type: 'CHANGED', file: A },
  { type: 'CHANGED', file: B },
  { type: 'DEBOUNCE_ELAPSED' },
  { type: 'RELOAD_STARTED' },
  { type: 'RELOAD_FINISHED', ok: true },
];

interface Recording {
  reloads: { files: string[]; atEvent: number }[];
  watchCalls: string[][];
  timers: number;
  snapshot: Snapshot;
}

/**
 * Replays `events`, checking the per-step invariants, then (unless stopped)
 * lets the world finish what it started: timers fire, reloads start and end.
 */
function replay(events: readonly ReloaderEvent[], settle = true): Recording {
  const rec: Omit<Recording, 'snapshot'> = { reloads: [], watchCalls: [], timers: 0 };
  let index = -1;
  let outstanding = false;
  const actor = createActor(
    reloaderMachine.provide({
      actions: {
        startDebounce: () => rec.timers++,
        cancelDebounce: () => rec.timers--,
        requestReload: (_, { files }) => {
          assert.ok(!outstanding, 'a second reload was requested before the first finished');
          assert.ok(files.length > 0, 'a reload was requested with no changed file');
          outstanding = true;
          rec.reloads.push({ files: [...files], atEvent: index });
        },
        watchFiles: (_, { files }) => rec.watchCalls.push([...files]),
      },
    }),
  );
  actor.start();
  const step = (e: ReloaderEvent): void => {
    const before = actor.getSnapshot();
    index++;
    actor.send(e);
    const after = actor.getSnapshot();
    if (e.type === 'RELOAD_FINISHED' && before.matches('reloading')) outstanding = false;
    assert.ok(rec.timers === 0 || rec.timers === 1, `${rec.timers} debounce timers running`);
    assert.equal(rec.timers, after.matches('debouncing') ? 1 : 0, 'a debounce timer runs exactly while debouncing');
    if (after.status !== 'done') assert.equal(new Set(after.context.pending).size, after.context.pending.length, 'pending has duplicates');
  };
  for (const e of events) step(e);
  if (settle) {
    for (let i = 0; i < 10 && actor.getSnapshot().status !== 'done'; i++) {
      const s = actor.getSnapshot();
      if (s.matches('debouncing')) step({ type: 'DEBOUNCE_ELAPSED' });
      else if (s.matches('requesting')) step({ type: 'RELOAD_STARTED' });
      else if (s.matches('reloading')) step({ type: 'RELOAD_FINISHED', ok: true });
      else break;
    }
  }
  return { ...rec, snapshot: actor.getSnapshot() };
}

function checkPath(events: readonly ReloaderEvent[]): void {
  const rec = replay(events);
  const stopAt = events.findIndex((e) => e.type === 'STOP');
  if (stopAt >= 0) {
    assert.equal(rec.snapshot.status, 'done');
    assert.equal(rec.timers, 0, 'STOP left a debounce timer running');
  } else {
    assert.ok(rec.snapshot.matches('idle'), `settled in ${JSON.stringify(rec.snapshot.value)}`);
    assert.deepEqual(rec.snapshot.context.pending, []);
    // A change is never lost: a later reload names it.
    events.forEach((e, i) => {
      if (e.type !== 'CHANGED') return;
      assert.ok(
        rec.reloads.some((r) => r.atEvent >= i && r.files.includes(e.file)),
        `change of ${e.file} at step ${i} never reloaded; reloads ${JSON.stringify(rec.reloads)}`,
      );
    });
  }
  // Each file is handed to the watcher once, and the machine knows them all.
  const asked = new Set(events.slice(0, stopAt >= 0 ? stopAt : undefined).flatMap((e) => (e.type === 'WATCH' ? e.files : [])));
  const handed = rec.watchCalls.flat();
  assert.equal(new Set(handed).size, handed.length, `a file was watched twice: ${JSON.stringify(rec.watchCalls)}`);
  assert.deepEqual(new Set(handed), asked);
  if (stopAt < 0) assert.deepEqual(new Set(rec.snapshot.context.watched), asked);
}

describe('reloader machine (model-based)', () => {
  const model = createTestModel(reloaderMachine);
  const shortest = model.getShortestPaths({ events: ALL_EVENTS });
  // Simple paths are exponential in the number of states: identify states by what the invariants care about.
  const simple = model.getSimplePaths({
    events: CORE_EVENTS,
    serializeState: (s: Snapshot) => JSON.stringify([s.value, [...s.context.pending].sort(), s.context.reloading.length > 0]),
  });

  it('reaches every state', () => {
    const reached = new Set(shortest.map((p) => JSON.stringify(p.state.value)));
    for (const s of ['idle', 'debouncing', 'requesting', 'reloading', 'stopped']) assert.ok(reached.has(JSON.stringify(s)), `${s} unreachable`);
  });

  it(`holds the invariants on every shortest path (${shortest.length}) and simple path (${simple.length})`, () => {
    assert.ok(shortest.length > 20 && simple.length > 20);
    for (const p of [...shortest, ...simple]) checkPath(p.steps.map((s) => s.event));
  });

  it('declares every action the runtime must provide', () => {
    const implemented = Object.keys(reloaderMachine.implementations.actions);
    for (const a of RELOADER_ACTIONS) assert.ok(implemented.includes(a), a);
  });
});

describe('reloader machine (event sequences)', () => {
  it('turns a burst of saves into one reload naming each file once', () => {
    const rec = replay(
      [
        { type: 'CHANGED', file: A },
        { type: 'CHANGED', file: B },
        { type: 'CHANGED', file: A },
        { type: 'DEBOUNCE_ELAPSED' },
      ],
      false,
    );
    assert.deepEqual(
      rec.reloads.map((r) => r.files),
      [[A, B]],
    );
    assert.ok(rec.snapshot.matches('requesting'));
  });

  it('turns changes made during a reload into exactly one more reload, after it finishes', () => {
    const rec = replay(
      [
        { type: 'CHANGED', file: A },
        { type: 'DEBOUNCE_ELAPSED' },
        { type: 'RELOAD_STARTED' },
        { type: 'CHANGED', file: B },
        { type: 'CHANGED', file: A },
        { type: 'CHANGED', file: B },
        { type: 'RELOAD_FINISHED', ok: true },
      ],
      false,
    );
    assert.equal(rec.reloads.length, 1, 'nothing requested while the first reload runs');
    assert.ok(rec.snapshot.matches('debouncing'));
    assert.deepEqual(rec.snapshot.context.pending, [B, A]);
    const after = replay(
      [
        { type: 'CHANGED', file: A },
        { type: 'DEBOUNCE_ELAPSED' },
        { type: 'RELOAD_STARTED' },
        { type: 'CHANGED', file: B },
        { type: 'RELOAD_FINISHED', ok: true },
        { type: 'DEBOUNCE_ELAPSED' },
      ],
      false,
    );
    assert.deepEqual(
      after.reloads.map((r) => r.files),
      [[A], [B]],
    );
  });

  it("ignores the end of someone else's reload while its own is queued", () => {
    const rec = replay(
      [
        { type: 'RELOAD_STARTED' }, // a SIGHUP reload, while idle
        { type: 'CHANGED', file: A },
        { type: 'DEBOUNCE_ELAPSED' },
        { type: 'RELOAD_FINISHED', ok: true }, // the SIGHUP one ends; ours is queued behind it
      ],
      false,
    );
    assert.ok(rec.snapshot.matches('requesting'));
    assert.deepEqual(rec.snapshot.context.reloading, [A]);
  });

  it('does not retry a failed reload until a file changes again', () => {
    const rec = replay(
      [
        { type: 'CHANGED', file: A },
        { type: 'DEBOUNCE_ELAPSED' },
        { type: 'RELOAD_STARTED' },
        { type: 'RELOAD_FINISHED', ok: false },
      ],
      false,
    );
    assert.ok(rec.snapshot.matches('idle'));
    assert.equal(rec.snapshot.context.lastOutcome, 'failed');
    assert.equal(rec.reloads.length, 1);
  });

  it('watches each file once, however often the workers report it', () => {
    const rec = replay(
      [
        { type: 'WATCH', files: [A] },
        { type: 'WATCH', files: [A, B, B] },
        { type: 'WATCH', files: [B] },
      ],
      false,
    );
    assert.deepEqual(rec.watchCalls, [[A], [B]]);
    assert.deepEqual(rec.snapshot.context.watched, [A, B]);
  });

  it('stops with no timer left running, and ignores everything after', () => {
    const rec = replay(
      [
        { type: 'CHANGED', file: A },
        { type: 'STOP' },
        { type: 'CHANGED', file: B },
        { type: 'DEBOUNCE_ELAPSED' },
      ],
      false,
    );
    assert.equal(rec.snapshot.status, 'done');
    assert.equal(rec.timers, 0);
    assert.deepEqual(rec.reloads, []);
  });
});
