/**
 * The controller's fleet membership (--nats): drives machines/fleet-member.ts
 * with a real NATS connection, the registry bucket, the heartbeat timer, the
 * event publisher and the command handler. Nothing here can stop the
 * controller from serving: every NATS failure becomes an event and a log line.
 */
import { hostname } from 'node:os';
import type { KV } from '@nats-io/kv';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { createActor } from 'xstate';
import { fleetMemberMachine } from '../../machines/fleet-member.js';
import {
  FLEET_PROTOCOL_VERSION,
  decodeCommand,
  encodeFleet,
  subjects,
  type FleetCommand,
  type FleetReply,
  type NodeReport,
} from '../../protocol/fleet-messages.js';
import { connectionOptions, describeNatsError, type NatsSettings } from './connection.js';
import type { FleetNodeSource, NodeEvent } from './node-source.js';
import { openOrCreateRegistry, openOrCreateRoster, readRegistry } from './registry.js';

/** KV operations must not hang a heartbeat or a stop: NATS may be gone. */
const KV_TIMEOUT_MS = 3000;
/**
 * Each JetStream request of a registration: a request lost while the cluster
 * elects a leader costs this long before the next try (backoff from 250 ms).
 */
const REGISTER_TRY_MS = 2000;
/** How long the status page waits for a fresh registry read before it shows the last one. */
const VIEW_WAIT_MS = 300;

export interface FleetMemberOptions {
  nats: NatsSettings;
  fleet: string;
  node: string;
  /** TTL for the registry bucket if this member creates it, seconds. */
  ttlSeconds: number;
  /** Copies of the registry bucket in a NATS cluster, if this member creates it. */
  replicas?: number;
  source: FleetNodeSource;
  log: (line: string) => void;
}

/** What the status page shows about the fleet. */
export interface FleetView {
  fleet: string;
  node: string;
  /** The membership's state: connecting, joined, reconnecting… */
  membership: string;
  lastError: string | null;
  members: NodeReport[];
}

export interface FleetMember {
  view(): Promise<FleetView>;
  /** Leaves the fleet (deletes the entry if NATS is there) and closes the connection. */
  stop(): Promise<void>;
}

const membershipName = (value: unknown): string => (typeof value === 'string' ? value : Object.values(value as Record<string, string>)[0] ?? 'online');

export function startFleetMember(opts: FleetMemberOptions): FleetMember {
  const { fleet, node, source, log } = opts;
  const host = hostname();
  const connOpts = connectionOptions(opts.nats, `spawning ${fleet}/${node}`);
  let nc: NatsConnection | null = null;
  let kv: KV | null = null;
  /** The roster (registry.ts): written beside the registry, never in the way of a heartbeat. */
  let roster: KV | null = null;
  let rosterOpening = false;
  let rosterComplained = false;
  /** What the roster last got: it is written when that changes and once a TTL, not at every heartbeat. */
  let rosterWrote = '';
  let ttlMs = opts.ttlSeconds * 1000;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let resolveStopped: () => void = () => {};
  const stoppedPromise = new Promise<void>((r) => (resolveStopped = r));
  const heartbeatMs = (): number => Math.max(250, Math.floor(ttlMs / 3));

  const report = (): NodeReport => ({
    v: FLEET_PROTOCOL_VERSION,
    node,
    fleet,
    host,
    ...source.snapshot(),
    updatedAt: Date.now(),
    heartbeatMs: heartbeatMs(),
  });

  const write = async (): Promise<void> => {
    if (!kv) throw new Error('no registry bucket');
    await withTimeout(kv.put(node, encodeFleet(report())), 'registry write');
    if (roster) writeRoster(roster);
    else if (nc) openRosterSoon(nc);
  };

  /** The roster's copy of this node's entry, when its generation or state changed or a TTL passed since (its "last seen"). */
  const writeRoster = (k: KV): void => {
    const r = report();
    const key = `${r.generation}:${r.state}:${Math.floor(r.updatedAt / ttlMs)}`;
    if (key === rosterWrote) return;
    rosterWrote = key;
    void withTimeout(k.put(node, encodeFleet(r)), 'roster write').catch(() => void (rosterWrote = ''));
  };

  /** Opens (or creates) the roster in the background, then writes this node's entry there; tried again at each heartbeat until it works. */
  const openRosterSoon = (c: NatsConnection): void => {
    if (rosterOpening) return;
    rosterOpening = true;
    openOrCreateRoster(c, fleet, ttlMs, opts.replicas ?? 1, REGISTER_TRY_MS)
      .then(
        (k) => {
          if (nc !== c) return;
          roster = k;
          rosterWrote = '';
          writeRoster(k);
        },
        (err: unknown) => {
          // Serving and the registry go on without it: said once, not at every heartbeat.
          if (!rosterComplained) log(`spawning: fleet: cannot open the roster bucket (hosts that drop out cannot be named): ${describeNatsError(err)}`);
          rosterComplained = true;
        },
      )
      .finally(() => void (rosterOpening = false));
  };

  const handleCommand = async (cmd: FleetCommand): Promise<FleetReply> => {
    switch (cmd.t) {
      case 'report':
        return { t: 'report', report: report() };
      case 'drain':
        await source.drain(cmd.graceMs);
        void write().catch(() => {}); // show 'draining' in the registry at once
        return { t: 'draining', graceMs: cmd.graceMs };
      case 'reload': {
        // Held up by a partition and delivered once it healed: its requester gave up long ago.
        if (cmd.expiresAt !== undefined && Date.now() > cmd.expiresAt) {
          log(`spawning: fleet: a reload request arrived ${Date.now() - cmd.expiresAt} ms after its requester stopped waiting; not reloading`);
          return { t: 'error', message: 'the reload request expired before it arrived' };
        }
        const outcome = await source.reload();
        void write().catch(() => {});
        return outcome.ok ? { t: 'reloaded', generation: outcome.generation } : { t: 'reload-failed', generation: outcome.generation, error: outcome.error };
      }
    }
  };

  const onCommand = (msg: Msg): void => {
    let cmd: FleetCommand;
    try {
      cmd = decodeCommand(msg.data);
    } catch (err) {
      msg.respond(encodeFleet({ t: 'error', message: (err as Error).message }));
      return;
    }
    handleCommand(cmd).then(
      (reply) => msg.respond(encodeFleet(reply)),
      (err: unknown) => msg.respond(encodeFleet({ t: 'error', message: err instanceof Error ? err.message : String(err) })),
    );
  };

  const onEvent = (e: NodeEvent): void => {
    if (!nc || nc.isClosed() || !actor.getSnapshot().matches('online')) return;
    try {
      nc.publish(subjects.events(fleet, node), encodeFleet({ ...e, node, at: Date.now() }));
    } catch {
      // An event lost while NATS is away is acceptable: the registry carries the state.
    }
  };

  const actor = createActor(
    fleetMemberMachine.provide({
      actions: {
        connect: () => {
          connect({ ...connOpts, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: 5000 }).then(
            (c) => {
              if (stopped) {
                void c.close();
                return;
              }
              nc = c;
              void watchStatus(c);
              actor.send({ type: 'CONNECTED' });
            },
            (err: unknown) => actor.send({ type: 'CONNECT_FAILED', error: describeNatsError(err) }),
          );
        },
        closeConnection: () => {
          const c = nc;
          nc = null;
          kv = null;
          roster = null;
          if (c && !c.isClosed()) void c.close().catch(() => {});
        },
        serveCommands: () => {
          nc?.subscribe(subjects.command(fleet, node), {
            callback: (err, msg) => {
              if (!err) onCommand(msg);
            },
          });
        },
        register: () => {
          const c = nc!;
          openOrCreateRegistry(c, fleet, opts.ttlSeconds * 1000, opts.replicas ?? 1, REGISTER_TRY_MS)
            .then(async (r) => {
              if (nc !== c) return;
              kv = r.kv;
              ttlMs = r.ttlMs;
              await write();
              void refreshMembers();
              actor.send({ type: 'REGISTERED' });
            })
            .catch((err: unknown) => actor.send({ type: 'REGISTER_FAILED', error: describeNatsError(err) }));
        },
        heartbeat: () => {
          write().then(
            () => {
              void refreshMembers();
              actor.send({ type: 'HEARTBEAT_OK' });
            },
            (err: unknown) => actor.send({ type: 'HEARTBEAT_FAILED', error: describeNatsError(err) }),
          );
        },
        unregister: () => {
          const done = (): void => void actor.send({ type: 'LEFT' });
          if (!kv) return done();
          // A clean stop leaves the roster too: a rollout names only hosts that vanished.
          const rosterDeleted = roster ? withTimeout(roster.delete(node), 'roster delete').catch(() => {}) : Promise.resolve();
          Promise.all([withTimeout(kv.delete(node), 'registry delete'), rosterDeleted]).then(done, done);
        },
        startHeartbeat: () => {
          heartbeatTimer = setInterval(() => actor.send({ type: 'HEARTBEAT_DUE' }), heartbeatMs());
          heartbeatTimer.unref();
        },
        stopHeartbeat: () => clearInterval(heartbeatTimer),
        forceReconnect: () => {
          log('spawning: fleet: heartbeats keep failing; reconnecting to NATS');
          void nc?.reconnect().catch(() => {});
        },
        scheduleRetry: (_, { delayMs }) => {
          retryTimer = setTimeout(() => actor.send({ type: 'RETRY_DUE' }), delayMs);
          retryTimer.unref();
        },
        cancelRetry: () => clearTimeout(retryTimer),
        report: (_, { what, error, delayMs }) => {
          const where = `fleet '${fleet}' as '${node}'`;
          const why = error ? `: ${error}` : '';
          const retry = delayMs !== undefined ? `; retrying in ${delayMs} ms` : '';
          switch (what) {
            case 'joined':
              onEvent({ t: 'joined', generation: source.snapshot().generation });
              return log(`spawning: fleet: joined ${where} (NATS ${opts.nats.nats.join(',')}, heartbeat every ${heartbeatMs()} ms)`);
            case 'rejoined':
              onEvent({ t: 'joined', generation: source.snapshot().generation });
              return log(`spawning: fleet: rejoined ${where}`);
            case 'disconnected':
              return log(`spawning: fleet: lost NATS; still serving, reconnecting`);
            case 'connect-failed':
              return log(`spawning: fleet: cannot connect to NATS${why}${retry}`);
            case 'closed':
              return log(`spawning: fleet: NATS connection closed${why}${retry}`);
            case 'register-failed':
              return log(`spawning: fleet: cannot write the registry entry${why}${retry}`);
            case 'heartbeat-failing':
              return log(`spawning: fleet: heartbeat failing${why}`);
            case 'heartbeat-recovered':
              return log(`spawning: fleet: heartbeat recovered`);
          }
        },
      },
    }),
  );

  let members: NodeReport[] = [];
  let reading: Promise<void> | null = null;
  /** Reads the registry in the background (one read at a time) for view(). */
  function refreshMembers(): Promise<void> {
    const c = nc;
    const bucket = kv;
    if (reading) return reading;
    if (!c || !bucket) return Promise.resolve();
    reading = withTimeout(readRegistry(c, bucket, fleet), 'registry read')
      .then((m) => void (members = m), () => {})
      .finally(() => void (reading = null));
    return reading;
  }

  async function watchStatus(c: NatsConnection): Promise<void> {
    void c.closed().then((err) => {
      if (nc === c) actor.send({ type: 'CLOSED', error: err ? describeNatsError(err) : null });
    });
    for await (const s of c.status()) {
      if (nc !== c) return;
      if (s.type === 'disconnect') actor.send({ type: 'DISCONNECTED' });
      else if (s.type === 'reconnect') actor.send({ type: 'RECONNECTED' });
    }
  }

  actor.subscribe((s) => {
    if (s.status === 'done') resolveStopped();
  });
  source.events.on('fleet-event', onEvent);
  actor.start();
  actor.send({ type: 'START' });

  return {
    view: async () => {
      const s = actor.getSnapshot();
      // The page answers from what the last read found: a partition can leave
      // the connection looking alive while every read waits for its timeout.
      if (s.matches('online')) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([refreshMembers(), new Promise<void>((r) => (timer = setTimeout(r, VIEW_WAIT_MS)))]).finally(() => clearTimeout(timer));
      } else members = [];
      return { fleet, node, membership: membershipName(s.value), lastError: s.context.lastError, members };
    },
    stop: async () => {
      if (stopped) return stoppedPromise;
      stopped = true;
      source.events.off('fleet-event', onEvent);
      actor.send({ type: 'STOP' });
      // The connection may still be opening: stopped closes it when it arrives.
      return stoppedPromise;
    },
  };
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${KV_TIMEOUT_MS} ms`)), KV_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
