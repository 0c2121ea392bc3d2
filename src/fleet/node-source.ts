/**
 * What the fleet needs from a controller, and its one implementation over the
 * controller's actor and its notices (machines/controller-notices.ts). The
 * status service can implement the same interface from its own snapshot instead.
 */
import { EventEmitter } from 'node:events';
import type { ControllerActor } from '../../machines/controller.js';
import type { ControllerNotices } from '../../machines/controller-notices.js';
import type { FleetEvent, NodeReport, NodeState } from '../../protocol/fleet-messages.js';
import { loadErrorLine } from '../../protocol/worker-messages.js';
import type { StatusStore } from '../status/status-store.js';

/** A node's report without the fields the fleet member adds (node, fleet, host, timestamps). */
export type NodeSnapshot = Pick<NodeReport, 'pid' | 'version' | 'url' | 'state' | 'generation' | 'children' | 'requestsPerSecond' | 'rssBytes' | 'startedAt'>;

export type ReloadOutcome = { ok: true; generation: number } | { ok: false; generation: number; error: string };

/** An event as the source emits it ('fleet-event'); the member adds node and time. */
export type NodeEvent = FleetEvent extends infer E ? (E extends FleetEvent ? Omit<E, 'node' | 'at'> : never) : never;

export interface FleetNodeSource {
  snapshot(): NodeSnapshot;
  /** A graceful reload; resolves when the new generation serves or failed to load (the old one keeps serving). */
  reload(): Promise<ReloadOutcome>;
  /** /healthz turns 503 at once; the controller stops accepting (a graceful stop) after graceMs. */
  drain(graceMs: number): Promise<void>;
  /** True from drain() on: the health check reads it. */
  readonly draining: boolean;
  /** Emits 'fleet-event' (NodeEvent). */
  readonly events: EventEmitter;
}


export interface ControllerSourceOptions {
  actor: ControllerActor;
  /** The controller's notices. */
  lifecycle: ControllerNotices;
  /** The status store: requests/s and memory come from the children's reports kept there. */
  store: StatusStore;
  /** Called when the fleet drains this host (the status service turns /healthz 503). */
  onDrain: () => void;
  version: string;
  url: string;
  log: (line: string) => void;
}

export function controllerNodeSource(opts: ControllerSourceOptions): FleetNodeSource {
  const { actor, lifecycle, log } = opts;
  const events = new EventEmitter();
  const startedAt = Date.now();
  let draining = false;
  const emit = (e: NodeEvent): void => void events.emit('fleet-event', e);

  lifecycle.subscribe((n) => {
    switch (n.type) {
      case 'child-started':
        return emit({ t: 'child-started', child: n.id, slot: n.slot, generation: n.generation, pid: n.pid });
      case 'child-exited':
        return emit({ t: 'child-exited', child: n.id, pid: n.pid, code: n.code, signal: n.signal });
      case 'reload-started':
        return emit({ t: 'reload-started', generation: n.generation });
      case 'reloaded':
        return emit({ t: 'reloaded', generation: n.generation });
      case 'reload-failed':
        return emit({ t: 'reload-failed', generation: n.generation, error: n.error ? loadErrorLine(n.error) : null });
      case 'replaced':
        return emit({ t: 'evicted', child: n.child, worker: n.oldPid, replacement: n.newPid, reason: n.reason, ok: n.ok });
      default:
        // The children's reports are the status service's; the fleet publishes lifecycle only.
        return;
    }
  });

  const state = (): NodeState => {
    const s = actor.getSnapshot();
    if (s.matches('stopping') || s.status === 'done') return 'stopping';
    if (draining) return 'draining';
    if (s.matches({ active: 'starting' }) || s.matches('idle')) return 'starting';
    if (s.matches({ active: { running: 'reloading' } })) return 'reloading';
    return 'serving';
  };

  return {
    events,
    get draining() {
      return draining;
    },
    snapshot: () => {
      const { context } = actor.getSnapshot();
      return {
        pid: process.pid,
        version: opts.version,
        url: opts.url,
        state: state(),
        generation: context.generation,
        children: {
          ready: context.children.filter((c) => c.state === 'ready' && c.generation === context.generation).length,
          configured: context.processes,
        },
        requestsPerSecond: Math.round(opts.store.totalRate() * 10) / 10,
        rssBytes: process.memoryUsage.rss() + opts.store.sum('rss'),
        startedAt,
      };
    },
    reload: () =>
      new Promise<ReloadOutcome>((resolve, reject) => {
        const now = state();
        if (now === 'stopping' || now === 'draining') {
          reject(new Error(`not reloading: this controller is ${now}`));
          return;
        }
        // Ours is the first reload to start after the request: one already running may have imported the old code.
        let mine: number | null = null;
        const unsubscribe = lifecycle.subscribe((n) => {
          if (n.type === 'reload-started') {
            if (mine === null) mine = n.generation;
            return;
          }
          if ((n.type !== 'reloaded' && n.type !== 'reload-failed') || n.generation !== mine) return;
          unsubscribe();
          if (n.type === 'reloaded') resolve({ ok: true, generation: n.generation });
          else resolve({ ok: false, generation: n.generation, error: n.error ? loadErrorLine(n.error) : 'the new children exited before they were ready' });
        });
        log('spawning: fleet: reload requested');
        actor.send({ type: 'RELOAD' });
      }),
    drain: async (graceMs) => {
      if (draining) return;
      draining = true;
      opts.onDrain();
      log(`spawning: fleet: draining: /healthz answers 503; stopping in ${graceMs / 1000} s`);
      emit({ t: 'draining', graceMs });
      setTimeout(() => actor.send({ type: 'STOP' }), graceMs).unref();
    },
  };
}
