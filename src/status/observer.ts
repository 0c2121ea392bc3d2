/** Feeds the StatusStore from the controller's notices: its lifecycle and its children's reports. */
import type { ControllerNotices } from '../../machines/controller-notices.js';
import { loadErrorLine } from '../../protocol/worker-messages.js';
import type { StatusStore } from './status-store.js';

/** `signal`, else "code N": how a process ended, as the log lines say it. */
const how = (code: number | null, signal: string | null): string => signal ?? `code ${code}`;

/** Returns the function that stops it. */
export function observeController(store: StatusStore, notices: ControllerNotices): () => void {
  return notices.subscribe((notice) => {
    switch (notice.type) {
      case 'reload-started':
        store.record('reload-started', `reload: starting generation ${notice.generation}`);
        return;
      case 'reloaded':
        store.counts.reloads++;
        store.record('reloaded', `reloaded: generation ${notice.generation} is serving`);
        return;
      case 'reload-failed': {
        const { generation, error } = notice;
        store.counts.reloadFailures++;
        store.record('reload-failed', `reload to generation ${generation} failed: ${error ? loadErrorLine(error) : 'a new child exited before it was ready'}; the old code keeps serving`, {
          detail: error?.traceback || undefined,
        });
        return;
      }
      case 'replaced': {
        const { child, oldPid, newPid, reason, ok } = notice;
        if (ok) {
          if (reason === 'memory') store.counts.evictionsMemory++;
          else store.counts.evictionsAge++;
        }
        store.record('eviction', ok ? `worker ${oldPid} of child #${child} replaced by ${newPid}` : `the replacement for worker ${oldPid} of child #${child} did not start; keeping the old one`);
        return;
      }
      case 'child-started':
        store.childSpawned(notice.id, notice.slot, notice.generation, notice.pid);
        return;
      case 'child-ready':
        store.childReady(notice.id);
        return;
      case 'child-stats':
        store.childStats(notice.id, notice.stats);
        return;
      case 'child-exited': {
        const child = store.children.get(notice.id);
        if (notice.unexpected) {
          store.counts.childCrashes++;
          store.record('child-crashed', `child ${child?.pid ?? '?'} (slot ${child?.slot ?? '?'}) exited unexpectedly (${how(notice.code, notice.signal)}); restarting`);
        }
        store.childExited(notice.id);
        return;
      }
      case 'worker-exited':
        store.workerCrashed(notice.id, notice.pid, how(notice.code, notice.signal), notice.failed);
        return;
      case 'evicting':
        store.record('eviction', `${notice.reason === 'memory' ? 'memory' : 'age'}: ${notice.why}`, { figures: notice.figures });
        return;
    }
  });
}
