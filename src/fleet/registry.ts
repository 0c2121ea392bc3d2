/**
 * The fleet registry: a NATS KV bucket (`spawning-<fleet>`) with one key per
 * node, the value a msgpack NodeReport. The bucket's TTL (max age) is what
 * makes a vanished host drop out: members rewrite their entry every third of
 * it, and the server removes entries older than it.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeReport, registryBucket, type NodeReport } from '../../protocol/fleet-messages.js';

/** Opens the fleet's bucket, creating it with this TTL if it does not exist yet. */
export async function openOrCreateRegistry(nc: NatsConnection, fleet: string, ttlMs: number): Promise<{ kv: KV; ttlMs: number }> {
  const kvm = new Kvm(nc);
  let kv: KV;
  try {
    kv = await kvm.open(registryBucket(fleet));
    await kv.status();
  } catch {
    kv = await kvm.create(registryBucket(fleet), { ttl: ttlMs, history: 1, description: `spawning fleet ${fleet}: one entry per controller` });
  }
  const status = await kv.status();
  // The bucket's own TTL wins: it was fixed by whoever created it.
  return { kv, ttlMs: status.ttl > 0 ? status.ttl : ttlMs };
}

/** Opens the fleet's bucket for reading; null when no member ever created it. */
export async function openRegistry(nc: NatsConnection, fleet: string): Promise<KV | null> {
  try {
    const kv = await new Kvm(nc).open(registryBucket(fleet));
    await kv.status();
    return kv;
  } catch (err) {
    if (/stream not found|not found/i.test(String((err as Error).message))) return null;
    throw err;
  }
}

/** Every live entry, sorted by node name; entries that cannot be read are skipped. */
export async function readRegistry(kv: KV): Promise<NodeReport[]> {
  // A set: a key rewritten by a heartbeat while the listing runs can be listed twice.
  const keys = new Set<string>();
  for await (const k of await kv.keys()) keys.add(k);
  const reports: NodeReport[] = [];
  for (const k of [...keys].sort()) {
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
