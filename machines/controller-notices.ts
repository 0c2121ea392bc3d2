/**
 * What the controller tells the rest of its process: its lifecycle (reloads,
 * replacements, children starting and exiting) and each child's reports. One
 * stream: src/runtime/controller.ts publishes, and the reloader, the status
 * service and the fleet member subscribe, none of them through the runtime.
 *
 * Notices, not events: the machine's events (ControllerEvent, controller.ts)
 * go into the machine. Notices come out of the runtime, which knows what the
 * machine does not (pids, exit codes, a child's stats, the eviction figures),
 * so they are published there rather than emitted by the machine.
 */
import type { ChildStats } from '../protocol/control-messages.js';
import type { LoadError } from '../protocol/worker-messages.js';
import type { ReplaceReason } from './controller.js';

export type ControllerNotice =
  | { type: 'reload-started'; generation: number }
  | { type: 'reloaded'; generation: number }
  /** `error` is null when a new child exited before it was ready. */
  | { type: 'reload-failed'; generation: number; error: LoadError | null }
  /** Child `child` replaced its worker `oldPid` by `newPid` (`ok`), or could not and the old one stays (`newPid` 0 if none started). */
  | { type: 'replaced'; child: number; oldPid: number; newPid: number; reason: ReplaceReason; ok: boolean }
  | { type: 'child-started'; id: number; slot: number; generation: number; pid: number }
  | { type: 'child-ready'; id: number }
  | { type: 'child-stats'; id: number; stats: ChildStats }
  /** `unexpected`: it was not draining and had not failed to load the app (a crash). */
  | { type: 'child-exited'; id: number; pid: number; code: number | null; signal: string | null; unexpected: boolean }
  /** A child's Python worker died; `failed`: the requests it took with it (answered 502). */
  | { type: 'worker-exited'; id: number; pid: number; code: number | null; signal: string | null; failed: number }
  /** The eviction policy chose a worker to replace (a 'replaced' notice follows); `figures` for the status page. */
  | { type: 'evicting'; reason: ReplaceReason; why: string; figures: Record<string, number> };

export type NoticeListener = (notice: ControllerNotice) => void;

/** The listeners' side. */
export interface ControllerNotices {
  /** Returns the function that unsubscribes this listener. */
  subscribe(listener: NoticeListener): () => void;
}

export interface ControllerNoticeStream extends ControllerNotices {
  publish(notice: ControllerNotice): void;
}

/**
 * Delivery is synchronous, in subscription order, as Node's EventEmitter
 * does: a listener sees the notice before the controller's next action runs.
 * A listener that unsubscribes while a notice is delivered still lets the
 * others hear it, because each delivery walks the list as it was.
 */
export function controllerNotices(): ControllerNoticeStream {
  let listeners: readonly NoticeListener[] = [];
  return {
    publish: (notice) => {
      for (const listener of listeners) listener(notice);
    },
    subscribe: (listener) => {
      // Its own function per subscription, so subscribing one listener twice needs two unsubscribes.
      const entry: NoticeListener = (notice) => listener(notice);
      listeners = [...listeners, entry];
      return () => {
        listeners = listeners.filter((l) => l !== entry);
      };
    },
  };
}
