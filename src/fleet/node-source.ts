/**
 * What the fleet needs from a controller, and its one implementation over the
 * controller runtime (its actor and lifecycle events). The status service can
 * implement the same interface from its own snapshot instead.
 */
import { EventEmitter } from 'node:events';
import type { FleetEvent, NodeReport, NodeState } from '../../protocol/fleet-messages.js';
import { loadErrorLine, type LoadError } from '../../protocol/worker-messages.js';
import type { ControllerActor } from '../runtime/controller.js';
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
  /** The controller's `events` emitter. */
  lifecycle: EventEmitter;
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

  lifecycle.on('child-started', (child: number, slot: number, generation: number, pid: number) => emit({ t: 'child-started', child, slot, generation, pid }));
  lifecycle.on('child-exited', (child: number, pid: number, code: number | null, signal: string | null) => {
    emit({ t: 'child-exited', child, pid, code, signal });
  });
  lifecycle.on('reload-started', (generation: number) => emit({ t: 'reload-started', generation }));
  lifecycle.on('reloaded', (generation: number) => emit({ t: 'reloaded', generation }));
  lifecycle.on('reload-failed', (generation: number, error: LoadError | null) => emit({ t: 'reload-failed', generation, error: error ? loadErrorLine(error) : null }));
  lifecycle.on('replaced', (child: number, replacement: number, reason: 'memory' | 'age', ok: boolean) => emit({ t: 'evicted', child, replacement, reason, ok }));

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
        const started = (generation: number): void => {
          if (mine === null) mine = generation;
        };
        const finished = (outcome: (generation: number, error?: LoadError | null) => ReloadOutcome) => (generation: number, error?: LoadError | null) => {
          if (mine === null || generation !== mine) return;
          lifecycle.off('reload-started', started).off('reloaded', ok).off('reload-failed', failed);
          resolve(outcome(generation, error));
        };
        const ok = finished((generation) => ({ ok: true, generation }));
        const failed = finished((generation, error) => ({ ok: false, generation, error: error ? loadErrorLine(error) : 'the new children exited before they were ready' }));
        lifecycle.on('reload-started', started).on('reloaded', ok).on('reload-failed', failed);
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
