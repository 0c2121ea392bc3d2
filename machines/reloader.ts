/**
 * The code reloader (--reload=dev): a burst of file changes (an editor's save,
 * a `git checkout`) becomes one reload request after a quiet period.
 *
 * Pure: the runtime owns the debounce timer (started and cancelled through
 * the actions) and delivers DEBOUNCE_ELAPSED. Overlapping reloads are the
 * controller's to coalesce; this machine only promises that no change is
 * dropped: every CHANGED is followed by a requestReload.
 */
import { assign, setup } from 'xstate';

export interface ReloaderContext {
  /** Files changed since the last reload request. */
  changed: string[];
}

export type ReloaderEvent = { type: 'CHANGED'; file: string } | { type: 'DEBOUNCE_ELAPSED' } | { type: 'STOP' };

export const reloaderMachine = setup({
  types: {} as { context: ReloaderContext; events: ReloaderEvent },
  actions: {
    startDebounce: () => {},
    cancelDebounce: () => {},
    requestReload: (_, _params: { files: string[] }) => {},
  },
}).createMachine({
  id: 'reloader',
  context: { changed: [] },
  initial: 'watching',
  states: {
    watching: {
      on: {
        CHANGED: {
          target: 'debouncing',
          actions: assign({ changed: ({ event }) => [event.file] }),
        },
        STOP: 'stopped',
      },
    },
    debouncing: {
      entry: 'startDebounce',
      exit: 'cancelDebounce',
      on: {
        // Another change restarts the quiet period (re-entering runs exit then entry).
        CHANGED: {
          target: 'debouncing',
          reenter: true,
          actions: assign({ changed: ({ context, event }) => (context.changed.includes(event.file) ? context.changed : [...context.changed, event.file]) }),
        },
        DEBOUNCE_ELAPSED: {
          target: 'watching',
          actions: [{ type: 'requestReload', params: ({ context }) => ({ files: context.changed }) }, assign({ changed: [] })],
        },
        STOP: 'stopped',
      },
    },
    stopped: { type: 'final' },
  },
});
