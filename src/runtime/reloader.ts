/** --reload=dev and --watch: drives machines/reloader.ts with a real FileWatcher and the controller's reload events. */
import type { EventEmitter } from 'node:events';
import { createActor, type StateValue } from 'xstate';
import { reloaderMachine } from '../../machines/reloader.js';
import { FileWatcher } from '../actors/file-watcher.js';
import type { Inspect } from '../status/inspector.js';

export const DEBOUNCE_MS = 250;

export interface Reloader {
  watch(files: Iterable<string>): void;
  stop(): void;
  /** The machine's current state, for the status page. */
  state(): StateValue;
}

/** `lifecycle` is the controller's `events` emitter: the machine waits for each reload it asked for to finish. */
export function startReloader(requestReload: (files: string[]) => void, log: (line: string) => void, lifecycle: EventEmitter, inspect?: Inspect): Reloader {
  let timer: NodeJS.Timeout | undefined;
  const watcher = new FileWatcher((file) => actor.send({ type: 'CHANGED', file }), log);
  const actor = createActor(
    reloaderMachine.provide({
      actions: {
        startDebounce: () => {
          timer = setTimeout(() => actor.send({ type: 'DEBOUNCE_ELAPSED' }), DEBOUNCE_MS);
        },
        cancelDebounce: () => clearTimeout(timer),
        requestReload: (_, { files }) => {
          const shown = files.slice(0, 3).join(', ') + (files.length > 3 ? ` and ${files.length - 3} more` : '');
          log(`spawning: ${shown} changed; reloading`);
          requestReload(files);
        },
        watchFiles: (_, { files }) => void watcher.add(files),
      },
    }),
    { inspect },
  );
  const started = (): void => void actor.send({ type: 'RELOAD_STARTED' });
  const reloaded = (): void => void actor.send({ type: 'RELOAD_FINISHED', ok: true });
  const failed = (): void => void actor.send({ type: 'RELOAD_FINISHED', ok: false });
  lifecycle.on('reload-started', started).on('reloaded', reloaded).on('reload-failed', failed);
  actor.start();
  return {
    watch: (files) => actor.send({ type: 'WATCH', files: [...files] }),
    stop: () => {
      lifecycle.off('reload-started', started).off('reloaded', reloaded).off('reload-failed', failed);
      actor.send({ type: 'STOP' });
      watcher.close();
    },
    state: () => actor.getSnapshot().value,
  };
}
