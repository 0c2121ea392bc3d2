/**
 * A controller's membership of a fleet (--nats): connect to NATS, write its
 * registry entry, keep it alive with a heartbeat, survive losing NATS, and
 * leave on stop. Serving HTTP never waits on any of this.
 *
 *   disconnected ─START─▶ connecting ─CONNECTED─▶ online.registering ─REGISTERED─▶ online.joined
 *                          ▲     │ CONNECT_FAILED            ▲  │ REGISTER_FAILED        │ ▲ HEARTBEAT_DUE
 *                          │     ▼                           │  ▼                        │ └ (heartbeat)
 *                          └─ retrying (back-off)            │  online.backingOff        │ DISCONNECTED
 *                             ▲                              │ RECONNECTED               ▼
 *                             └──── CLOSED (client gave up) ─┴──────────── online.reconnecting
 *
 *   Heartbeats failing RECONNECT_AFTER_FAILURES times in a row force a
 *   reconnect (forceReconnect), which the client reports as DISCONNECTED.
 *
 *   STOP: from online (connected) through leaving (the entry is deleted) to
 *   stopped; from anywhere else straight to stopped. The connection is closed
 *   once, on entering stopped.
 *
 * Pure: the runtime (src/fleet/member.ts) owns the connection, the KV bucket
 * and the timers; it turns their outcomes into these events. The NATS client
 * reconnects by itself after a connection was made (DISCONNECTED/RECONNECTED);
 * this machine only retries the first connect, and a connection the client
 * gave up on (CLOSED), with a capped back-off. Re-registering after a
 * reconnect matters: the entry may have expired while NATS was unreachable.
 */
import { assign, setup } from 'xstate';
import { backoff } from './backoff.js';

export const RETRY_BASE_MS = 250;
/**
 * Heartbeats failed in a row before the connection is made anew. A silent
 * partition (packets dropped, no reset) leaves a connection that looks alive
 * for minutes, and after the heal TCP's back-off can hold it quiet for as
 * long again: a fresh connection is back within a second of the heal.
 */
export const RECONNECT_AFTER_FAILURES = 2;
export const RETRY_MAX_MS = 10_000;

export interface FleetMemberContext {
  /** Consecutive failures of the step being retried (connect or register); drives the back-off. */
  attempt: number;
  /** Heartbeats in a row that failed (reported once when it starts failing and once when it recovers). */
  heartbeatFailures: number;
  /** The last error, for the status page. */
  lastError: string | null;
  /** Joined at least once: a later join is a rejoin. */
  everJoined: boolean;
}

export type FleetMemberEvent =
  | { type: 'START' }
  | { type: 'CONNECTED' }
  | { type: 'CONNECT_FAILED'; error: string }
  | { type: 'RETRY_DUE' }
  | { type: 'REGISTERED' }
  | { type: 'REGISTER_FAILED'; error: string }
  | { type: 'HEARTBEAT_DUE' }
  | { type: 'HEARTBEAT_OK' }
  | { type: 'HEARTBEAT_FAILED'; error: string }
  | { type: 'DISCONNECTED' }
  | { type: 'RECONNECTED' }
  | { type: 'CLOSED'; error: string | null }
  | { type: 'STOP' }
  | { type: 'LEFT' };

/** What each action the runtime provides receives as params. */
export interface FleetMemberActionParams {
  /** Open a connection; report CONNECTED or CONNECT_FAILED. */
  connect: undefined;
  /** Close the connection, or the one still being opened, once it exists. */
  closeConnection: undefined;
  /** Subscribe to this node's command subject (once per connection; the client resubscribes after reconnects). */
  serveCommands: undefined;
  /** Write the registry entry; report REGISTERED or REGISTER_FAILED. */
  register: undefined;
  /** Rewrite the registry entry (fresh numbers); report HEARTBEAT_OK or HEARTBEAT_FAILED. */
  heartbeat: undefined;
  /** Delete the registry entry; report LEFT (also on failure). */
  unregister: undefined;
  startHeartbeat: undefined;
  stopHeartbeat: undefined;
  /** Drop the connection and reconnect (the client reports DISCONNECTED, then RECONNECTED once a server answers). */
  forceReconnect: undefined;
  /** Send RETRY_DUE after delayMs. */
  scheduleRetry: { delayMs: number };
  cancelRetry: undefined;
  /** One log line about the membership (joined, lost, failing, recovered). */
  report: { what: 'joined' | 'rejoined' | 'disconnected' | 'connect-failed' | 'register-failed' | 'heartbeat-failing' | 'heartbeat-recovered' | 'closed'; error: string | null; delayMs?: number };
}

export type FleetMemberAction = keyof FleetMemberActionParams;

/** The actions the runtime must provide, in one list (checked against the machine by the tests). */
export const FLEET_MEMBER_ACTIONS: readonly FleetMemberAction[] = [
  'connect',
  'closeConnection',
  'serveCommands',
  'register',
  'heartbeat',
  'unregister',
  'startHeartbeat',
  'stopHeartbeat',
  'forceReconnect',
  'scheduleRetry',
  'cancelRetry',
  'report',
];

export function retryDelay(attempt: number): number {
  return backoff(attempt, RETRY_BASE_MS, RETRY_MAX_MS);
}

type Report = FleetMemberActionParams['report'];

const errorOf = (event: FleetMemberEvent): string | null => ('error' in event ? event.error : null);

/** Params of the report for a failure: what failed, why, and when the next try is. */
const failed =
  (what: Report['what']) =>
  ({ context, event }: { context: FleetMemberContext; event: FleetMemberEvent }): Report => ({ what, error: errorOf(event), delayMs: retryDelay(context.attempt) });

export const fleetMemberMachine = setup({
  types: {} as { context: FleetMemberContext; events: FleetMemberEvent },
  actions: {
    connect: () => {},
    closeConnection: () => {},
    serveCommands: () => {},
    register: () => {},
    heartbeat: () => {},
    unregister: () => {},
    startHeartbeat: () => {},
    stopHeartbeat: () => {},
    forceReconnect: () => {},
    scheduleRetry: (_, _params: FleetMemberActionParams['scheduleRetry']) => {},
    cancelRetry: () => {},
    report: (_, _params: Report) => {},
    recordError: assign({ lastError: ({ event }) => errorOf(event) }),
    countHeartbeatFailure: assign({ heartbeatFailures: ({ context }) => context.heartbeatFailures + 1 }),
  },
}).createMachine({
  id: 'fleet-member',
  context: { attempt: 0, heartbeatFailures: 0, lastError: null, everJoined: false },
  initial: 'disconnected',
  states: {
    disconnected: {
      on: { START: 'connecting', STOP: 'stopped' },
    },
    connecting: {
      entry: 'connect',
      on: {
        CONNECTED: { target: 'online', actions: assign({ attempt: 0 }) },
        CONNECT_FAILED: { target: 'retrying', actions: ['recordError', { type: 'report', params: failed('connect-failed') }] },
        STOP: 'stopped',
      },
    },
    retrying: {
      entry: [
        { type: 'scheduleRetry', params: ({ context }) => ({ delayMs: retryDelay(context.attempt) }) },
        assign({ attempt: ({ context }) => context.attempt + 1 }),
      ],
      exit: 'cancelRetry',
      on: { RETRY_DUE: 'connecting', STOP: 'stopped' },
    },
    online: {
      entry: 'serveCommands',
      initial: 'registering',
      on: {
        DISCONNECTED: {
          target: '.reconnecting',
          actions: [assign({ lastError: 'connection to NATS lost' }), { type: 'report', params: { what: 'disconnected', error: null } }],
        },
        CLOSED: {
          target: 'retrying',
          actions: ['closeConnection', 'recordError', { type: 'report', params: failed('closed') }],
        },
        STOP: 'leaving',
      },
      states: {
        registering: {
          entry: 'register',
          on: {
            REGISTERED: {
              target: 'joined',
              actions: [
                { type: 'report', params: ({ context }) => ({ what: context.everJoined ? 'rejoined' : 'joined', error: null }) },
                assign({ attempt: 0, lastError: null, heartbeatFailures: 0, everJoined: true }),
              ],
            },
            REGISTER_FAILED: { target: 'backingOff', actions: ['recordError', { type: 'report', params: failed('register-failed') }] },
          },
        },
        backingOff: {
          entry: [
            { type: 'scheduleRetry', params: ({ context }) => ({ delayMs: retryDelay(context.attempt) }) },
            assign({ attempt: ({ context }) => context.attempt + 1 }),
          ],
          exit: 'cancelRetry',
          on: { RETRY_DUE: 'registering' },
        },
        joined: {
          entry: 'startHeartbeat',
          exit: 'stopHeartbeat',
          on: {
            HEARTBEAT_DUE: { actions: 'heartbeat' },
            HEARTBEAT_OK: {
              guard: ({ context }) => context.heartbeatFailures > 0,
              actions: [{ type: 'report', params: { what: 'heartbeat-recovered', error: null } }, assign({ heartbeatFailures: 0, lastError: null })],
            },
            HEARTBEAT_FAILED: [
              // Logged when it starts failing, not on every beat.
              { guard: ({ context }) => context.heartbeatFailures === 0, actions: ['recordError', { type: 'report', params: failed('heartbeat-failing') }, 'countHeartbeatFailure'] },
              { guard: ({ context }) => context.heartbeatFailures === RECONNECT_AFTER_FAILURES - 1, actions: ['recordError', 'countHeartbeatFailure', 'forceReconnect'] },
              { actions: ['recordError', 'countHeartbeatFailure'] },
            ],
          },
        },
        reconnecting: {
          on: {
            RECONNECTED: 'registering',
            // Leaving needs NATS: without it the entry expires by itself within its TTL.
            STOP: '#fleet-member.stopped',
          },
        },
      },
    },
    leaving: {
      entry: 'unregister',
      on: { LEFT: 'stopped', DISCONNECTED: 'stopped', CLOSED: 'stopped' },
    },
    stopped: {
      type: 'final',
      entry: 'closeConnection',
    },
  },
});

export type FleetMemberMachine = typeof fleetMemberMachine;
