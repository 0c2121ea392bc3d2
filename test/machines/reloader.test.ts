/** Model-based tests of machines/reloader.ts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { reloaderMachine, type ReloaderEvent } from '../../machines/reloader.js';

const EVENTS: ReloaderEvent[] = [
  { type: 'CHANGED', file: '/app/a.py' },
  { type: 'CHANGED', file: '/app/b.py' },
  { type: 'DEBOUNCE_ELAPSED' },
  { type: 'STOP' },
];

function run(events: ReloaderEvent[]): { reloads: string[][]; timers: number; snapshot: ReturnType<typeof actor.getSnapshot> } {
  const reloads: string[][] = [];
  let timers = 0;
  const actor = createActor(
    reloaderMachine.provide({
      actions: {
        startDebounce: () => timers++,
        cancelDebounce: () => timers--,
        requestReload: (_, { files }) => reloads.push(files),
      },
    }),
  );
  actor.start();
  for (const e of events) actor.send(e);
  return { reloads, timers, snapshot: actor.getSnapshot() };
}

describe('reloader machine (model-based)', () => {
  const paths = [
    ...getShortestPaths(reloaderMachine, { events: EVENTS }),
    ...getSimplePaths(reloaderMachine, { events: EVENTS, serializeState: (s) => JSON.stringify([s.value, [...s.context.changed].sort()]) }),
  ];

  it('never loses a change: every change before a quiet period ends in a reload naming it', () => {
    assert.ok(paths.length > 5);
    for (const p of paths) {
      const events = p.steps.map((s) => s.event);
      const { reloads, snapshot } = run(events);
      let pending = new Set<string>();
      const expected: string[][] = [];
      let stopped = false;
      for (const e of events) {
        if (stopped) break;
        if (e.type === 'CHANGED') pending.add(e.file);
        else if (e.type === 'DEBOUNCE_ELAPSED' && pending.size > 0) {
          expected.push([...pending]);
          pending = new Set();
        } else if (e.type === 'STOP') stopped = true;
      }
      assert.deepEqual(reloads, expected);
      if (!stopped) assert.deepEqual([...snapshot.context.changed].sort(), [...pending].sort());
    }
  });

  it('keeps at most one debounce timer, and none once idle', () => {
    for (const p of paths) {
      const { timers, snapshot } = run(p.steps.map((s) => s.event));
      assert.ok(timers === 0 || timers === 1);
      assert.equal(timers, snapshot.matches('debouncing') ? 1 : 0);
    }
  });
});
