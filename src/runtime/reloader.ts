/** --reload=dev and --watch: drives machines/reloader.ts with a real FileWatcher. */
import { createActor } from 'xstate';
import { reloaderMachine } from '../../machines/reloader.js';
import { FileWatcher } from '../actors/file-watcher.js';

export const DEBOUNCE_MS = 250;

export interface Reloader {
  watch(files: Iterable<string>): void;
  stop(): void;
}

export function startReloader(requestReload: (files: string[]) => void, log: (line: string) => void): Reloader {
  let timer: NodeJS.Timeout | undefined;
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
      },
    }),
  );
  const watcher = new FileWatcher((file) => actor.send({ type: 'CHANGED', file }));
  actor.start();
  return {
    watch: (files) => void watcher.add(files),
    stop: () => {
      actor.send({ type: 'STOP' });
      watcher.close();
    },
  };
}
