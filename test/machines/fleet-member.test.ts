/**
 * machines/fleet-member.ts: xstate/graph walks the shortest and simple paths;
 * each is replayed against an actor whose effects are recorded, with the
 * invariants checked after every step. Then sequences worth reading alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, type SnapshotFrom } from 'xstate';
import { createTestModel } from 'xstate/graph';
import {
  FLEET_MEMBER_ACTIONS,
  RECONNECT_AFTER_FAILURES,
  RETRY_MAX_MS,
  fleetMemberMachine,
  retryDelay,
  type FleetMemberActionParams,
  type FleetMemberEvent,
} from '../../machines/fleet-member.js';

type Snapshot = SnapshotFrom<typeof fleetMemberMachine>;

const ALL_EVENTS: FleetMemberEvent[] = [
  { type: 'START' },
  { type: 'CONNECTED' },
  { type: 'CONNECT_FAILED', error: 'ECONNREFUSED' },
  { type: 'RETRY_DUE' },
  { type: 'REGISTERED' },
  { type: 'REGISTER_FAILED', error: 'jetstream not enabled' },
  { type: 'HEARTBEAT_DUE' },
  { type: 'HEARTBEAT_OK' },
  { type: 'HEARTBEAT_FAILED', error: 'timeout' },
  { type: 'DISCONNECTED' },
  { type: 'RECONNECTED' },
  { type: 'CLOSED', error: 'authorization violation' },
  { type: 'STOP' },
  { type: 'LEFT' },
];

interface Effects {
  /** 'none' or 'open' (a connect asked for counts as open until closed). */
  connection: 'none' | 'open';
  connects: number;
  closes: number;
  commandSubscriptions: number;
  heartbeatTimer: boolean;
  forcedReconnects: number;
  retryTimer: boolean;
  delays: number[];
  writes: Array<'register' | 'heartbeat' | 'unregister'>;
  reports: FleetMemberActionParams['report'][];
}

function replay(events: readonly FleetMemberEvent[]): { fx: Effects; snapshot: Snapshot } {
  const fx: Effects = {
    connection: 'none',
    connects: 0,
    closes: 0,
    commandSubscriptions: 0,
    heartbeatTimer: false,
    forcedReconnects: 0,
    retryTimer: false,
    delays: [],
    writes: [],
    reports: [],
  };
  const write = (what: Effects['writes'][number]) => () => {
    assert.equal(fx.connection, 'open', `${what} without a connection`);
    fx.writes.push(what);
  };
  const actor = createActor(
    fleetMemberMachine.provide({
      actions: {
        connect: () => {
          assert.equal(fx.connection, 'none', 'a second connection was opened');
          fx.connection = 'open';
          fx.connects++;
        },
        closeConnection: () => {
          if (fx.connection === 'open') fx.closes++;
          fx.connection = 'none';
        },
        serveCommands: () => {
          assert.equal(fx.connection, 'open');
          fx.commandSubscriptions++;
        },
        register: write('register'),
        heartbeat: write('heartbeat'),
        unregister: write('unregister'),
        startHeartbeat: () => {
          assert.ok(!fx.heartbeatTimer, 'two heartbeat timers');
          fx.heartbeatTimer = true;
        },
        stopHeartbeat: () => {
          fx.heartbeatTimer = false;
        },
        forceReconnect: () => {
          assert.equal(fx.connection, 'open', 'a reconnect forced without a connection');
          fx.forcedReconnects++;
        },
        scheduleRetry: (_, { delayMs }) => {
          assert.ok(!fx.retryTimer, 'two retry timers');
          fx.retryTimer = true;
          fx.delays.push(delayMs);
        },
        cancelRetry: () => {
          fx.retryTimer = false;
        },
        report: (_, params) => fx.reports.push(params),
      },
    }),
  );
  actor.start();
  for (const e of events) {
    // A connect that failed leaves no connection behind.
    if (e.type === 'CONNECT_FAILED' && actor.getSnapshot().matches('connecting')) {
      fx.connection = 'none';
      fx.closes++;
    }
    actor.send(e);
    const s = actor.getSnapshot();
    assert.notEqual(s.status, 'error', String(s.error));
    assert.equal(fx.heartbeatTimer, s.matches({ online: 'joined' }), `heartbeat timer ${fx.heartbeatTimer} in ${JSON.stringify(s.value)}`);
    assert.equal(fx.retryTimer, s.matches('retrying') || s.matches({ online: 'backingOff' }), `retry timer ${fx.retryTimer} in ${JSON.stringify(s.value)}`);
    const connected = s.matches('connecting') || s.matches('online') || s.matches('leaving');
    assert.equal(fx.connection === 'open', connected, `connection ${fx.connection} in ${JSON.stringify(s.value)}`);
    if (s.status === 'done') assert.ok(s.matches('stopped'));
  }
  // Each connection that was made served commands once: the client resubscribes by itself after reconnects.
  assert.ok(fx.commandSubscriptions <= fx.connects);
  for (const d of fx.delays) assert.ok(d > 0 && d <= RETRY_MAX_MS, `retry delay ${d}`);
  return { fx, snapshot: actor.getSnapshot() };
}

describe('fleet member machine (model-based)', () => {
  const model = createTestModel(fleetMemberMachine);
  const serializeState = (s: Snapshot): string =>
    JSON.stringify([s.value, Math.min(s.context.attempt, 2), Math.min(s.context.heartbeatFailures, 2), s.context.lastError !== null, s.context.everJoined]);
  const shortest = model.getShortestPaths({ events: ALL_EVENTS, serializeState });
  const simple = model.getSimplePaths({
    events: ALL_EVENTS,
    serializeState: (s: Snapshot) => JSON.stringify([s.value, s.context.lastError !== null, s.context.everJoined]),
  });

  it('reaches every state', () => {
    // Paths that are prefixes of longer ones are left out: count every state a path passes through.
    const reached = new Set(shortest.flatMap((p) => p.steps.map((step) => JSON.stringify(step.state.value))));
    for (const s of ['connecting', 'retrying', { online: 'registering' }, { online: 'backingOff' }, { online: 'joined' }, { online: 'reconnecting' }, 'leaving', 'stopped']) {
      assert.ok(reached.has(JSON.stringify(s)), `${JSON.stringify(s)} unreachable`);
    }
  });

  it(`holds the invariants on every shortest path (${shortest.length}) and simple path (${simple.length})`, () => {
    assert.ok(shortest.length > 20 && simple.length > 50, `${shortest.length} shortest, ${simple.length} simple paths`);
    for (const p of [...shortest, ...simple]) {
      const { fx, snapshot } = replay(p.steps.map((s) => s.event));
      if (snapshot.matches('stopped')) {
        assert.equal(fx.connection, 'none');
        assert.equal(fx.closes, fx.connects, 'a connection was left open');
      }
    }
  });

  it('declares every action the runtime must provide', () => {
    const implemented = Object.keys(fleetMemberMachine.implementations.actions);
    for (const a of FLEET_MEMBER_ACTIONS) assert.ok(implemented.includes(a), a);
  });
});

describe('fleet member machine (event sequences)', () => {
  it('joins: connect, serve commands, register, then heartbeat', () => {
    const { fx, snapshot } = replay([{ type: 'START' }, { type: 'CONNECTED' }, { type: 'REGISTERED' }, { type: 'HEARTBEAT_DUE' }, { type: 'HEARTBEAT_DUE' }]);
    assert.ok(snapshot.matches({ online: 'joined' }));
    assert.deepEqual(fx.writes, ['register', 'heartbeat', 'heartbeat']);
    assert.deepEqual(fx.reports.map((r) => r.what), ['joined']);
  });

  it('a first join after failed connects is a join, not a rejoin', () => {
    const { fx } = replay([{ type: 'START' }, { type: 'CONNECT_FAILED', error: 'ECONNREFUSED' }, { type: 'RETRY_DUE' }, { type: 'CONNECTED' }, { type: 'REGISTERED' }]);
    assert.deepEqual(fx.reports.map((r) => r.what), ['connect-failed', 'joined']);
  });

  it('retries the first connect with a growing, capped back-off', () => {
    const events: FleetMemberEvent[] = [{ type: 'START' }];
    for (let i = 0; i < 12; i++) events.push({ type: 'CONNECT_FAILED', error: 'ECONNREFUSED' }, { type: 'RETRY_DUE' });
    const { fx } = replay(events);
    assert.deepEqual(fx.delays.slice(0, 4), [retryDelay(0), retryDelay(1), retryDelay(2), retryDelay(3)]);
    assert.ok(fx.delays[1]! > fx.delays[0]!);
    assert.equal(fx.delays.at(-1), RETRY_MAX_MS);
    assert.equal(fx.connects, 13);
  });

  it('re-registers after a reconnect (the entry may have expired meanwhile), and says so', () => {
    const { fx, snapshot } = replay([
      { type: 'START' },
      { type: 'CONNECTED' },
      { type: 'REGISTERED' },
      { type: 'DISCONNECTED' },
      { type: 'HEARTBEAT_DUE' },
      { type: 'RECONNECTED' },
      { type: 'REGISTERED' },
    ]);
    assert.ok(snapshot.matches({ online: 'joined' }));
    assert.deepEqual(fx.writes, ['register', 'register']);
    assert.deepEqual(fx.reports.map((r) => r.what), ['joined', 'disconnected', 'rejoined']);
    assert.equal(fx.commandSubscriptions, 1);
  });

  it('logs a failing heartbeat once, and its recovery once', () => {
    const { fx } = replay([
      { type: 'START' },
      { type: 'CONNECTED' },
      { type: 'REGISTERED' },
      { type: 'HEARTBEAT_FAILED', error: 'timeout' },
      { type: 'HEARTBEAT_FAILED', error: 'timeout' },
      { type: 'HEARTBEAT_FAILED', error: 'timeout' },
      { type: 'HEARTBEAT_OK' },
      { type: 'HEARTBEAT_OK' },
    ]);
    assert.deepEqual(fx.reports.map((r) => r.what), ['joined', 'heartbeat-failing', 'heartbeat-recovered']);
  });

  it('forces one reconnect when heartbeats keep failing (a silent partition), then re-registers', () => {
    const failing: FleetMemberEvent[] = Array.from({ length: RECONNECT_AFTER_FAILURES + 2 }, () => ({ type: 'HEARTBEAT_FAILED', error: 'registry write timed out' }));
    const { fx, snapshot } = replay([
      { type: 'START' },
      { type: 'CONNECTED' },
      { type: 'REGISTERED' },
      ...failing.slice(0, RECONNECT_AFTER_FAILURES - 1),
    ]);
    assert.equal(fx.forcedReconnects, 0, 'one failed heartbeat is not a dead connection');
    assert.ok(snapshot.matches({ online: 'joined' }));
    const after = replay([{ type: 'START' }, { type: 'CONNECTED' }, { type: 'REGISTERED' }, ...failing, { type: 'DISCONNECTED' }, { type: 'RECONNECTED' }, { type: 'REGISTERED' }]);
    assert.equal(after.fx.forcedReconnects, 1, 'forced once per failing streak');
    assert.deepEqual(after.fx.writes, ['register', 'register']);
    assert.ok(after.snapshot.matches({ online: 'joined' }));
  });

  it('a connection the client gave up on is closed and made anew', () => {
    const { fx, snapshot } = replay([
      { type: 'START' },
      { type: 'CONNECTED' },
      { type: 'REGISTERED' },
      { type: 'CLOSED', error: 'authorization violation' },
      { type: 'RETRY_DUE' },
      { type: 'CONNECTED' },
    ]);
    assert.ok(snapshot.matches({ online: 'registering' }));
    assert.equal(fx.connects, 2);
    assert.equal(fx.closes, 1);
    assert.equal(fx.commandSubscriptions, 2);
  });

  it('leaves by deleting its entry when connected, and without it when not', () => {
    const online = replay([{ type: 'START' }, { type: 'CONNECTED' }, { type: 'REGISTERED' }, { type: 'STOP' }, { type: 'LEFT' }]);
    assert.equal(online.snapshot.status, 'done');
    assert.deepEqual(online.fx.writes, ['register', 'unregister']);
    const offline = replay([{ type: 'START' }, { type: 'CONNECTED' }, { type: 'REGISTERED' }, { type: 'DISCONNECTED' }, { type: 'STOP' }]);
    assert.equal(offline.snapshot.status, 'done');
    assert.deepEqual(offline.fx.writes, ['register']);
    assert.equal(offline.fx.closes, 1);
  });
});
