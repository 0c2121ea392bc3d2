/** --reload=dev and --watch: drives machines/reloader.ts with a real FileWatcher and the controller's reload notices. */
import { createActor, type StateValue } from 'xstate';
import type { ControllerNotices } from '../../machines/controller-notices.js';
import { reloaderMachine } from '../../machines/reloader.js';
import { FileWatcher } from '../actors/file-watcher.js';
import type { ModuleFile } from '../../protocol/worker-messages.js';
import type { Inspect } from '../status/inspector.js';

export const DEBOUNCE_MS = 250;

export interface Reloader {
  watch(files: Iterable<string>): void;
  /** Files a Python worker imported, with their identity at import (see FileWatcher.loaded). */
  imported(files: readonly ModuleFile[]): void;
  stop(): void;
  /** The machine's current state, for the status page. */
  state(): StateValue;
}

/** `notices`: the controller's, so the machine waits for each reload it asked for to finish. */
export function startReloader(requestReload: (files: string[]) => void, log: (line: string) => void, notices: ControllerNotices, inspect?: Inspect): Reloader {
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
  const unsubscribe = notices.subscribe((notice) => {
    if (notice.type === 'reload-started') actor.send({ type: 'RELOAD_STARTED' });
    else if (notice.type === 'reloaded') actor.send({ type: 'RELOAD_FINISHED', ok: true });
    else if (notice.type === 'reload-failed') actor.send({ type: 'RELOAD_FINISHED', ok: false });
  });
  actor.start();
  return {
    watch: (files) => actor.send({ type: 'WATCH', files: [...files] }),
    imported: (files) => {
      // Before WATCH: the watcher must hold each import's identity when its first stat comes back.
      for (const [file, loaded] of files) if (loaded !== null) watcher.loaded(file, loaded);
      actor.send({ type: 'WATCH', files: files.map(([file]) => file) });
    },
    stop: () => {
      unsubscribe();
      actor.send({ type: 'STOP' });
      watcher.close();
    },
    state: () => actor.getSnapshot().value,
  };
}
