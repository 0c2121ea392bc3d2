/**
 * Fleet messages over NATS (see FLEET.md): the registry entry each controller
 * keeps in the KV bucket, the events it publishes, and the commands it
 * answers. All are msgpack maps tagged `t` (the registry entry: `v`), encoded
 * with the same profile as the frame codec, so a Python or Go tool reads them
 * with any msgpack library.
 */
import { packr } from './frame-codec.js';

export const FLEET_PROTOCOL_VERSION = 1;

/** Fleet and node names become subject tokens and KV keys: letters, digits, '-' and '_'. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const subjects = {
  /** Events of one node. */
  events: (fleet: string, node: string): string => `spawning.${fleet}.${node}.events`,
  /** Events of every node of a fleet (a subscription). */
  allEvents: (fleet: string): string => `spawning.${fleet}.*.events`,
  /** Commands to one node (request/reply). */
  command: (fleet: string, node: string): string => `spawning.${fleet}.${node}.cmd`,
};

/** The KV bucket holding a fleet's registry: one key per node. */
export const registryBucket = (fleet: string): string => `spawning-${fleet}`;

/**
 * The KV bucket remembering who was in the fleet lately: the same entries as
 * the registry, kept ROSTER_TTLS registry TTLs, so a rollout can name a host
 * whose registry entry expired (lost, cut off) instead of never knowing it.
 */
export const rosterBucket = (fleet: string): string => `spawning-${fleet}-roster`;
export const ROSTER_TTLS = 20;

export type NodeState = 'starting' | 'serving' | 'reloading' | 'draining' | 'stopping';

/** A node's registry entry, rewritten on every heartbeat. */
export interface NodeReport {
  v: typeof FLEET_PROTOCOL_VERSION;
  node: string;
  fleet: string;
  /** The machine's hostname (the node name may differ). */
  host: string;
  pid: number;
  /** spawning's version. */
  version: string;
  /** Where it serves, as printed in "listening on". */
  url: string;
  state: NodeState;
  /** The code generation serving (1 at start, +1 per successful reload). */
  generation: number;
  children: { ready: number; configured: number };
  /** Requests answered per second, over the last heartbeat interval. */
  requestsPerSecond: number;
  /** RSS of the controller, its children and their Python workers, bytes. */
  rssBytes: number;
  /** ms since the epoch. */
  startedAt: number;
  updatedAt: number;
  /** Heartbeat period, ms: an entry older than the bucket's TTL is gone. */
  heartbeatMs: number;
}

interface EventBase {
  node: string;
  /** ms since the epoch. */
  at: number;
}

export type FleetEvent = EventBase &
  (
    | { t: 'joined'; generation: number }
    | { t: 'child-started'; child: number; slot: number; generation: number; pid: number }
    | { t: 'child-exited'; child: number; pid: number; code: number | null; signal: string | null }
    | { t: 'reload-started'; generation: number }
    | { t: 'reloaded'; generation: number }
    | { t: 'reload-failed'; generation: number; error: string | null }
    | { t: 'evicted'; child: number; worker: number; replacement: number; reason: 'memory' | 'age'; ok: boolean }
    | { t: 'draining'; graceMs: number }
  );

export type FleetCommand =
  /** expiresAt (ms since the epoch): when the requester stops waiting; a host that receives it later refuses. */
  | { t: 'reload'; expiresAt?: number }
  | { t: 'drain'; graceMs: number } | { t: 'report' };

export type FleetReply =
  | { t: 'reloaded'; generation: number }
  | { t: 'reload-failed'; generation: number; error: string }
  | { t: 'draining'; graceMs: number }
  | { t: 'report'; report: NodeReport }
  | { t: 'error'; message: string };

export function encodeFleet(value: NodeReport | FleetEvent | FleetCommand | FleetReply): Uint8Array {
  return packr.pack(value);
}

export class FleetMessageError extends Error {
  readonly code = 'SPAWNING_ERR_FLEET_MESSAGE';
}

function decodeMap(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new FleetMessageError(`not msgpack: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FleetMessageError('not a msgpack map');
  return value as Record<string, unknown>;
}

const COMMANDS = new Set(['reload', 'drain', 'report']);
const REPLIES = new Set(['reloaded', 'reload-failed', 'draining', 'report', 'error']);
const EVENTS = new Set(['joined', 'child-started', 'child-exited', 'reload-started', 'reloaded', 'reload-failed', 'evicted', 'draining']);

function tagged<T>(bytes: Uint8Array, known: Set<string>, what: string): T {
  const map = decodeMap(bytes);
  if (typeof map.t !== 'string' || !known.has(map.t)) throw new FleetMessageError(`unknown ${what} ${JSON.stringify(map.t)}`);
  return map as T;
}

export const decodeCommand = (bytes: Uint8Array): FleetCommand => tagged(bytes, COMMANDS, 'command');
export const decodeReply = (bytes: Uint8Array): FleetReply => tagged(bytes, REPLIES, 'reply');
export const decodeEvent = (bytes: Uint8Array): FleetEvent => tagged(bytes, EVENTS, 'event');

export function decodeReport(bytes: Uint8Array): NodeReport {
  const map = decodeMap(bytes);
  if (map.v !== FLEET_PROTOCOL_VERSION || typeof map.node !== 'string') throw new FleetMessageError(`not a version ${FLEET_PROTOCOL_VERSION} registry entry`);
  return map as unknown as NodeReport;
}
