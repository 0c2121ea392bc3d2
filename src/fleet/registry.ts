/**
 * The fleet registry: a NATS KV bucket (`spawning-<fleet>`) with one key per
 * node, the value a msgpack NodeReport. The bucket's TTL (max age) is what
 * makes a vanished host drop out: members rewrite their entry every third of
 * it, and the server removes entries older than it.
 *
 * Beside it the roster (`spawning-<fleet>-roster`): the same entries, kept
 * ROSTER_TTLS times longer, so that who dropped out lately can be named.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ROSTER_TTLS, decodeReport, registryBucket, rosterBucket, type NodeReport } from '../../protocol/fleet-messages.js';

/** Opens the fleet's bucket, creating it with this TTL and this many replicas if it does not exist yet. */
export function openOrCreateRegistry(nc: NatsConnection, fleet: string, ttlMs: number, replicas = 1, apiTimeoutMs?: number): Promise<{ kv: KV; ttlMs: number }> {
  return openOrCreate(nc, registryBucket(fleet), ttlMs, replicas, apiTimeoutMs, `spawning fleet ${fleet}: one entry per controller`);
}

/** Opens the fleet's roster, creating it (ROSTER_TTLS times the registry's TTL) if it does not exist yet. */
export async function openOrCreateRoster(nc: NatsConnection, fleet: string, registryTtlMs: number, replicas = 1, apiTimeoutMs?: number): Promise<KV> {
  const description = `spawning fleet ${fleet}: the registry's entries, kept ${ROSTER_TTLS} registry TTLs to name hosts that dropped out`;
  return (await openOrCreate(nc, rosterBucket(fleet), ROSTER_TTLS * registryTtlMs, replicas, apiTimeoutMs, description)).kv;
}

async function openOrCreate(nc: NatsConnection, bucket: string, ttlMs: number, replicas: number, apiTimeoutMs: number | undefined, description: string): Promise<{ kv: KV; ttlMs: number }> {
  const kvm = new Kvm(apiTimeoutMs ? jetstream(nc, { timeout: apiTimeoutMs }) : nc);
  let kv: KV;
  try {
    kv = await kvm.open(bucket);
    await kv.status();
  } catch (err) {
    // Only a bucket that does not exist is created: a timeout while the cluster
    // elects a leader is not a missing bucket (and creating it then could race
    // the real one with other settings).
    if (!/stream not found|not found/i.test(String((err as Error).message))) throw err;
    kv = await kvm.create(bucket, { ttl: ttlMs, history: 1, replicas, description });
  }
  const status = await kv.status();
  // The bucket's own TTL wins: it was fixed by whoever created it.
  return { kv, ttlMs: status.ttl > 0 ? status.ttl : ttlMs };
}

/**
 * Opens the fleet's bucket for reading; null when no member ever created it.
 * `apiTimeoutMs` bounds each JetStream request (default: the connection's
 * timeout): a command that retries prefers short tries, since a request lost
 * while the cluster elects a leader otherwise costs the whole timeout.
 */
export function openRegistry(nc: NatsConnection, fleet: string, apiTimeoutMs?: number): Promise<KV | null> {
  return openExisting(nc, registryBucket(fleet), apiTimeoutMs);
}

/** Opens the fleet's roster for reading; null when no member created it (members older than the roster). */
export function openRoster(nc: NatsConnection, fleet: string, apiTimeoutMs?: number): Promise<KV | null> {
  return openExisting(nc, rosterBucket(fleet), apiTimeoutMs);
}

async function openExisting(nc: NatsConnection, bucket: string, apiTimeoutMs?: number): Promise<KV | null> {
  try {
    const kv = await new Kvm(apiTimeoutMs ? jetstream(nc, { timeout: apiTimeoutMs }) : nc).open(bucket);
    await kv.status();
    return kv;
  } catch (err) {
    if (/stream not found|not found/i.test(String((err as Error).message))) return null;
    throw err;
  }
}

/**
 * The keys in the bucket, from the stream's per-subject counts: one request
 * with a timeout. Not `kv.keys()`: that reads through a consumer which waits
 * for as many messages as were pending when it was made, and an entry expiring
 * by TTL in between leaves it waiting for ever (nats-io/nats-server#3481);
 * with a 2 s TTL the CLI hung until killed.
 */
async function bucketKeys(nc: NatsConnection, bucket: string, apiTimeoutMs?: number): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const jsm = await jetstreamManager(nc, { checkAPI: false, ...(apiTimeoutMs ? { timeout: apiTimeoutMs } : {}) });
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {})
    .map((subject) => subject.slice(prefix.length))
    .sort();
}

/** Every live entry, sorted by node name; entries that cannot be read, or were deleted or expired meanwhile, are skipped. */
export function readRegistry(nc: NatsConnection, kv: KV, fleet: string, apiTimeoutMs?: number): Promise<NodeReport[]> {
  return readReports(nc, kv, registryBucket(fleet), apiTimeoutMs);
}

/** Every entry of the roster (opened with openRoster), sorted by node name. */
export function readRoster(nc: NatsConnection, kv: KV, fleet: string, apiTimeoutMs?: number): Promise<NodeReport[]> {
  return readReports(nc, kv, rosterBucket(fleet), apiTimeoutMs);
}

async function readReports(nc: NatsConnection, kv: KV, bucket: string, apiTimeoutMs?: number): Promise<NodeReport[]> {
  const reports: NodeReport[] = [];
  for (const k of await bucketKeys(nc, bucket, apiTimeoutMs)) {
    const entry = await kv.get(k);
    if (!entry || entry.operation !== 'PUT' || entry.value.length === 0) continue;
    try {
      reports.push(decodeReport(entry.value));
    } catch {
      // Written by a newer or foreign tool: not ours to show.
    }
  }
  return reports;
}
