/** The admission gate on its own: slots, the queue, shedding, withdrawal, counters and the fast-request pipeline. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Admission, PREFETCH_MS, type Release } from '../../src/http/admission.js';

/** Admits requests named by `K` through `gate`, recording the order they start in and their releases. */
function recorder<K>(gate: Admission): { started: K[]; releases: Map<K, Release>; admit: (name: K) => Release | null } {
  const started: K[] = [];
  const releases = new Map<K, Release>();
  const admit = (name: K): Release | null =>
    gate.admit((release) => {
      started.push(name);
      releases.set(name, release);
    });
  return { started, releases, admit };
}

describe('admission', () => {
  it('runs up to the limit, queues up to --max-queue, sheds beyond, and starts the queued in order', async () => {
    const gate = new Admission(2, 2);
    const { started, releases, admit } = recorder<number>(gate);
    assert.ok(admit(1) && admit(2) && admit(3) && admit(4));
    assert.equal(admit(5), null);
    assert.deepEqual([started, gate.running, gate.queued], [[1, 2], 2, 2]);
    await sleep(20);
    releases.get(1)!();
    releases.get(1)!(); // a second release changes nothing
    await sleep(0);
    assert.deepEqual(started, [1, 2, 3]);
    const counters = gate.snapshot();
    assert.deepEqual([counters.shed, counters.queueWaited], [1, 1]);
    assert.ok(counters.queueWaitMs >= 15 && counters.queueMaxWaitMs >= 15, JSON.stringify(counters));
    assert.equal(gate.snapshot().queueMaxWaitMs, 0, 'the longest wait is per period');
  });

  it('a withdrawn request leaves the queue; withdrawing a running one frees nothing', async () => {
    const gate = new Admission(1, 4);
    let release1: Release = () => {};
    const withdraw1 = gate.admit((r) => (release1 = r))!;
    let second = false;
    const withdraw2 = gate.admit(() => (second = true))!;
    assert.equal(gate.queued, 1);
    withdraw2();
    withdraw1();
    await sleep(0);
    assert.deepEqual([gate.queued, gate.running, second], [0, 1, false]);
    release1();
    await sleep(0);
    assert.equal(gate.running, 0);
  });

  it('opens a short pipeline for fast requests and closes it when they slow down', async () => {
    const gate = new Admission(1, 10_000);
    assert.equal(gate.window, 1);
    // About 200 quick requests a second for a while: the window grows by what completes in PREFETCH_MS.
    const until = performance.now() + 450;
    while (performance.now() < until) {
      for (let i = 0; i < 5; i++) gate.admit((release) => queueMicrotask(release));
      await sleep(1);
    }
    assert.ok(gate.window > 1, `window ${gate.window} after fast requests`);
    assert.ok(gate.window <= 1 + Math.ceil((5000 * PREFETCH_MS) / 1000), `window ${gate.window}`);
    // Nothing completes for a while: back to what the worker can run.
    await sleep(500);
    for (let i = 0; i < 3; i++) {
      gate.admit(() => {});
      await sleep(110);
    }
    assert.equal(gate.window, 1);
  });

  it('gives a free slot synchronously, and a slot freed while others wait goes to the oldest waiter', async () => {
    const gate = new Admission(1, 10);
    const { started, releases, admit } = recorder<string>(gate);
    admit('a');
    assert.deepEqual(started, ['a'], 'started before admit() returned');
    admit('b');
    admit('c');
    releases.get('a')!();
    // The slot is b's from the release on: a newcomer queues behind b and c instead of taking it.
    admit('d');
    assert.deepEqual([gate.running, gate.queued], [0, 3]);
    await sleep(0);
    assert.deepEqual(started, ['a', 'b']);
    releases.get('b')!();
    await sleep(0);
    releases.get('c')!();
    await sleep(0);
    assert.deepEqual(started, ['a', 'b', 'c', 'd']);
    assert.equal(gate.snapshot().queueWaited, 3);
  });

  it('a waiter withdrawn at the head of the line passes its slot on', async () => {
    const gate = new Admission(1, 10);
    let releaseA: Release = () => {};
    gate.admit((r) => (releaseA = r));
    let b = false;
    let c = false;
    const withdrawB = gate.admit(() => (b = true))!;
    gate.admit(() => (c = true));
    await sleep(0); // b is now the head, waiting for the slot
    withdrawB();
    releaseA();
    await sleep(0);
    assert.deepEqual([b, c, gate.running, gate.queued], [false, true, 1, 0]);
  });
});
