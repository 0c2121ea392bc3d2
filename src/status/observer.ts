/** Feeds the StatusStore from the controller: its observer calls and its lifecycle events. */
import type { EventEmitter } from 'node:events';
import type { ReplaceReason } from '../../machines/controller.js';
import { loadErrorLine, type LoadError } from '../../protocol/worker-messages.js';
import type { ControllerObserver } from '../runtime/controller.js';
import type { StatusStore } from './status-store.js';

export function observeController(store: StatusStore, lifecycle: EventEmitter): ControllerObserver {
  lifecycle.on('reload-started', (generation: number) => store.record('reload-started', `reload: starting generation ${generation}`));
  lifecycle.on('reloaded', (generation: number) => {
    store.counts.reloads++;
    store.record('reloaded', `reloaded: generation ${generation} is serving`);
  });
  lifecycle.on('reload-failed', (generation: number, error: LoadError | null) => {
    store.counts.reloadFailures++;
    store.record('reload-failed', `reload to generation ${generation} failed: ${error ? loadErrorLine(error) : 'a new child exited before it was ready'}; the old code keeps serving`, {
      detail: error?.traceback || undefined,
    });
  });
  lifecycle.on('replaced', (oldId: number, newId: number, reason: ReplaceReason, ok: boolean) => {
    if (ok) {
      if (reason === 'memory') store.counts.evictionsMemory++;
      else store.counts.evictionsAge++;
    }
    store.record('eviction', ok ? `child #${oldId} replaced by #${newId}` : `replacement #${newId} for child #${oldId} failed to start; keeping the old one`);
  });
  return {
    childSpawned: (id, slot, generation, pid) => store.childSpawned(id, slot, generation, pid),
    childReady: (id) => store.childReady(id),
    childStats: (id, stats) => store.childStats(id, stats),
    childExited: (id, unexpected, how) => {
      const child = store.children.get(id);
      if (unexpected) {
        store.counts.childCrashes++;
        store.record('child-crashed', `child ${child?.pid ?? '?'} (slot ${child?.slot ?? '?'}) exited unexpectedly (${how}); restarting`);
      }
      store.childExited(id);
    },
    workerExited: (id, pid, how, failed) => store.workerCrashed(id, pid, how, failed),
    evicting: (reason, why, figures) => store.record('eviction', `${reason === 'memory' ? 'memory' : 'age'}: ${why}`, { figures }),
  };
}
