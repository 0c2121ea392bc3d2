/**
 * The fleet registry: a NATS KV bucket (`spawning-<fleet>`) with one key per
 * node, the value a msgpack NodeReport. The bucket's TTL (max age) is what
 * makes a vanished host drop out: members rewrite their entry every third of
 * it, and the server removes entries older than it.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeReport, registryBucket, type NodeReport } from '../../protocol/fleet-messages.js';

/** Opens the fleet's bucket, creating it with this TTL and this many replicas if it does not exist yet. */
export async function openOrCreateRegistry(nc: NatsConnection, fleet: string, ttlMs: number, replicas = 1, apiTimeoutMs?: number): Promise<{ kv: KV; ttlMs: number }> {
  const kvm = new Kvm(apiTimeoutMs ? jetstream(nc, { timeout: apiTimeoutMs }) : nc);
  let kv: KV;
  try {
    kv = await kvm.open(registryBucket(fleet));
    await kv.status();
  } catch (err) {
    // Only a bucket that does not exist is created: a timeout while the cluster
    // elects a leader is not a missing bucket (and creating it then could race
    // the real one with other settings).
    if (!/stream not found|not found/i.test(String((err as Error).message))) throw err;
    kv = await kvm.create(registryBucket(fleet), { ttl: ttlMs, history: 1, replicas, description: `spawning fleet ${fleet}: one entry per controller` });
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
export async function openRegistry(nc: NatsConnection, fleet: string, apiTimeoutMs?: number): Promise<KV | null> {
  try {
    const kv = await new Kvm(apiTimeoutMs ? jetstream(nc, { timeout: apiTimeoutMs }) : nc).open(registryBucket(fleet));
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
async function registryKeys(nc: NatsConnection, fleet: string, apiTimeoutMs?: number): Promise<string[]> {
  const bucket = registryBucket(fleet);
  const prefix = `$KV.${bucket}.`;
  const jsm = await jetstreamManager(nc, { checkAPI: false, ...(apiTimeoutMs ? { timeout: apiTimeoutMs } : {}) });
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {})
    .map((subject) => subject.slice(prefix.length))
    .sort();
}

/** Every live entry, sorted by node name; entries that cannot be read, or were deleted or expired meanwhile, are skipped. */
export async function readRegistry(nc: NatsConnection, kv: KV, fleet: string, apiTimeoutMs?: number): Promise<NodeReport[]> {
  const reports: NodeReport[] = [];
  for (const k of await registryKeys(nc, fleet, apiTimeoutMs)) {
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
