/** The status store as the controller's notices leave it: children, counters and the events the page lists. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controllerNotices } from '../../machines/controller-notices.js';
import { observeController } from '../../src/status/observer.js';
import { StatusStore } from '../../src/status/status-store.js';

function observed(): { store: StatusStore; notices: ReturnType<typeof controllerNotices>; stop: () => void } {
  const store = new StatusStore(2000, () => 1_000);
  const notices = controllerNotices();
  return { store, notices, stop: observeController(store, notices) };
}

describe('status observer', () => {
  it('tracks a child from start to a crash, and a worker that died under it', () => {
    const { store, notices } = observed();
    notices.publish({ type: 'child-started', id: 1, slot: 0, generation: 1, pid: 4242 });
    notices.publish({ type: 'child-ready', id: 1 });
    assert.equal(store.children.get(1)?.readyAt, 1_000);
    notices.publish({ type: 'worker-exited', id: 1, pid: 77, code: null, signal: 'SIGKILL', failed: 2 });
    notices.publish({ type: 'child-exited', id: 1, pid: 4242, code: 1, signal: null, unexpected: true });
    assert.equal(store.children.size, 0);
    assert.equal(store.counts.workerCrashes, 1);
    assert.equal(store.counts.childCrashes, 1);
    assert.deepEqual(
      store.events.map((e) => e.message),
      ['Python worker 77 of child 4242 exited (SIGKILL); 2 request(s) answered 502; restarted', 'child 4242 (slot 0) exited unexpectedly (code 1); restarting'],
    );
  });

  it('counts a drained child leaving as no crash', () => {
    const { store, notices } = observed();
    notices.publish({ type: 'child-started', id: 1, slot: 0, generation: 1, pid: 4242 });
    notices.publish({ type: 'child-exited', id: 1, pid: 4242, code: 0, signal: null, unexpected: false });
    assert.equal(store.counts.childCrashes, 0);
    assert.deepEqual(store.events, []);
  });

  it('counts reloads, failed reloads and replacements by reason, and stops when told', () => {
    const { store, notices, stop } = observed();
    notices.publish({ type: 'reload-started', generation: 2 });
    notices.publish({ type: 'reloaded', generation: 2 });
    notices.publish({ type: 'reload-failed', generation: 3, error: null });
    notices.publish({ type: 'evicting', reason: 'memory', why: 'child #1 is the largest', figures: { rss: 1 } });
    notices.publish({ type: 'replaced', child: 1, oldPid: 100, newPid: 105, reason: 'memory', ok: true });
    notices.publish({ type: 'replaced', child: 2, oldPid: 200, newPid: 0, reason: 'age', ok: false });
    stop();
    notices.publish({ type: 'reloaded', generation: 4 });
    assert.deepEqual(
      { reloads: store.counts.reloads, reloadFailures: store.counts.reloadFailures, memory: store.counts.evictionsMemory, age: store.counts.evictionsAge },
      { reloads: 1, reloadFailures: 1, memory: 1, age: 0 },
    );
    assert.deepEqual(
      store.events.map((e) => e.kind),
      ['reload-started', 'reloaded', 'reload-failed', 'eviction', 'eviction', 'eviction'],
    );
  });
});
