/**
 * The code reloader (--reload=dev, --watch): a burst of file changes (an
 * editor's save, a `git checkout`) becomes one reload request after a quiet
 * period, and changes made while that reload runs become exactly one more.
 *
 *   idle ──CHANGED──▶ debouncing ──DEBOUNCE_ELAPSED──▶ requesting ──RELOAD_STARTED──▶ reloading
 *    ▲                 ▲   │ CHANGED restarts the quiet period                            │
 *    │                 │   └───────────────────────────────────────── RELOAD_FINISHED ────┤
 *    └──────────────── (nothing changed meanwhile) ◀──────────────────────────────────────┘
 *
 * Pure: the runtime owns the debounce timer (startDebounce / cancelDebounce)
 * and delivers DEBOUNCE_ELAPSED, so paths through the machine are
 * deterministic without a clock. The runtime also relays the controller's
 * RELOAD_STARTED / RELOAD_FINISHED. In `requesting`, a RELOAD_FINISHED belongs
 * to a reload that was already running when ours was asked for (a SIGHUP, say):
 * the controller queues ours behind it, so only RELOAD_STARTED moves us on.
 * Outside requesting/reloading those events are someone else's reload and are
 * ignored: pending changes still get their own reload, since the running one
 * may have imported the code before they were saved.
 */
import { assign, setup } from 'xstate';

export interface ReloaderContext {
  /** Every file being watched: modules the Python workers imported, plus --watch files. */
  watched: string[];
  /** Files changed and not yet covered by a requested reload. */
  pending: string[];
  /** Files of the reload requested or running now; empty when none is. */
  reloading: string[];
  /** How the last reload this machine asked for ended; null before the first. */
  lastOutcome: 'ok' | 'failed' | null;
}

export type ReloaderEvent =
  | { type: 'WATCH'; files: string[] }
  | { type: 'CHANGED'; file: string }
  | { type: 'DEBOUNCE_ELAPSED' }
  | { type: 'RELOAD_STARTED' }
  | { type: 'RELOAD_FINISHED'; ok: boolean }
  | { type: 'STOP' };

/** What each action the runtime provides receives as params. */
export interface ReloaderActionParams {
  /** Start (or restart) the quiet-period timer; when it fires, send DEBOUNCE_ELAPSED. */
  startDebounce: undefined;
  /** Cancel the quiet-period timer if it is running. */
  cancelDebounce: undefined;
  /** Ask the controller for a graceful reload; `files` are why, for the log. */
  requestReload: { files: string[] };
  /** Start watching these files (only ones not watched before). */
  watchFiles: { files: string[] };
}

export type ReloaderAction = keyof ReloaderActionParams;

/** The actions the runtime must provide, in one list (checked against the machine by the tests). */
export const RELOADER_ACTIONS: readonly ReloaderAction[] = ['startDebounce', 'cancelDebounce', 'requestReload', 'watchFiles'];

const union = (into: readonly string[], more: readonly string[]): string[] => {
  const seen = new Set(into);
  const out = [...into];
  for (const f of more) {
    if (!seen.has(f)) {
      seen.add(f);
      out.push(f);
    }
  }
  return out;
};

const unwatched = (context: ReloaderContext, files: readonly string[]): string[] => union([], files).filter((f) => !context.watched.includes(f));

export const reloaderMachine = setup({
  types: {} as { context: ReloaderContext; events: ReloaderEvent },
  actions: {
    startDebounce: () => {},
    cancelDebounce: () => {},
    requestReload: (_, _params: ReloaderActionParams['requestReload']) => {},
    watchFiles: (_, _params: ReloaderActionParams['watchFiles']) => {},
    addPending: assign({
      pending: ({ context, event }) => (event.type === 'CHANGED' ? union(context.pending, [event.file]) : context.pending),
    }),
  },
  guards: {
    hasPending: ({ context }) => context.pending.length > 0,
    hasNewFiles: ({ context, event }) => event.type === 'WATCH' && unwatched(context, event.files).length > 0,
  },
}).createMachine({
  id: 'reloader',
  context: { watched: [], pending: [], reloading: [], lastOutcome: null },
  initial: 'idle',
  on: {
    WATCH: {
      guard: 'hasNewFiles',
      actions: [
        { type: 'watchFiles', params: ({ context, event }) => ({ files: unwatched(context, event.files) }) },
        assign({ watched: ({ context, event }) => union(context.watched, event.files) }),
      ],
    },
    STOP: '.stopped',
  },
  states: {
    idle: {
      on: {
        CHANGED: { target: 'debouncing', actions: 'addPending' },
      },
    },
    debouncing: {
      entry: 'startDebounce',
      exit: 'cancelDebounce',
      on: {
        // Another change restarts the quiet period (re-entering runs exit, then entry).
        CHANGED: { target: 'debouncing', reenter: true, actions: 'addPending' },
        DEBOUNCE_ELAPSED: 'requesting',
      },
    },
    requesting: {
      entry: [
        { type: 'requestReload', params: ({ context }) => ({ files: context.pending }) },
        assign({ reloading: ({ context }) => context.pending, pending: [] }),
      ],
      on: {
        CHANGED: { actions: 'addPending' },
        RELOAD_STARTED: 'reloading',
      },
    },
    reloading: {
      on: {
        CHANGED: { actions: 'addPending' },
        RELOAD_FINISHED: [
          // A failed reload is not retried by itself: the broken file must change again first.
          {
            guard: 'hasPending',
            target: 'debouncing',
            actions: assign({ reloading: [], lastOutcome: ({ event }) => (event.ok ? 'ok' : 'failed') }),
          },
          { target: 'idle', actions: assign({ reloading: [], lastOutcome: ({ event }) => (event.ok ? 'ok' : 'failed') }) },
        ],
      },
    },
    stopped: { type: 'final' },
  },
});
