/**
 * The registry bucket against a real nats-server: entries written, deleted and
 * expiring by TTL, read back while they expire. Reading must always finish
 * promptly: a listing that waits on an entry which expired meanwhile hangs the
 * `fleet status` command (nats-io/nats-server#3481).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FLEET_PROTOCOL_VERSION, ROSTER_TTLS, encodeFleet, type NodeReport } from '../../protocol/fleet-messages.js';
import { openOrCreateRegistry, openOrCreateRoster, openRegistry, openRoster, readRegistry, readRoster } from '../../src/fleet/registry.js';
import { disposeAllNats, startNats } from '../helpers/nats.js';

function report(node: string): NodeReport {
  return {
    v: FLEET_PROTOCOL_VERSION,
    node,
    fleet: 'reg',
    host: 'test',
    pid: 1,
    version: '0.0.0',
    url: 'http://127.0.0.1:1',
    state: 'serving',
    generation: 1,
    children: { ready: 1, configured: 1 },
    requestsPerSecond: 0,
    rssBytes: 0,
    startedAt: 0,
    updatedAt: 0,
    heartbeatMs: 333,
  };
}

describe('fleet registry', { timeout: 60_000 }, () => {
  let nc: NatsConnection;

  before(async () => {
    const server = await startNats();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await disposeAllNats();
  });

  test('a fleet nobody joined has no bucket', async () => {
    assert.equal(await openRegistry(nc, 'nobody'), null);
    assert.equal(await openRoster(nc, 'nobody'), null);
  });

  test("the roster is a bucket of its own, keeping entries ROSTER_TTLS times the registry's TTL", async () => {
    const { kv } = await openOrCreateRegistry(nc, 'rostered', 1_000);
    const roster = await openOrCreateRoster(nc, 'rostered', 1_000);
    assert.equal((await roster.status()).ttl, ROSTER_TTLS * 1_000);
    for (const b of [kv, roster]) await b.put('alpha', encodeFleet({ ...report('alpha'), fleet: 'rostered' }));
    // Past the registry's TTL the entry is gone there and still in the roster.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(await readRegistry(nc, kv, 'rostered'), []);
    assert.deepEqual((await readRoster(nc, (await openRoster(nc, 'rostered'))!, 'rostered')).map((r) => r.node), ['alpha']);
  });

  test('lists live entries by node name, without deleted ones', async () => {
    const { kv, ttlMs } = await openOrCreateRegistry(nc, 'listed', 60_000);
    assert.equal(ttlMs, 60_000);
    for (const node of ['charlie', 'alpha', 'bravo']) await kv.put(node, encodeFleet({ ...report(node), fleet: 'listed' }));
    await kv.delete('bravo');
    await kv.put('foreign', new TextEncoder().encode('not msgpack of ours'));
    assert.deepEqual((await readRegistry(nc, kv, 'listed')).map((r) => r.node), ['alpha', 'charlie']);
    // Whoever created the bucket fixed its TTL.
    assert.equal((await openOrCreateRegistry(nc, 'listed', 5_000)).ttlMs, 60_000);
  });

  test('reads finish promptly while entries expire under them', async () => {
    const { kv } = await openOrCreateRegistry(nc, 'expiring', 1_000);
    const nodes = Array.from({ length: 40 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    let slowest = 0;
    let reads = 0;
    // Several rounds: with `kv.keys()` a listing caught by an expiry at the wrong moment hung in about one round of four.
    for (let round = 1; round <= 6; round++) {
      // Written over 0.8 s, so entries keep expiring one after another for the reads below.
      for (const node of nodes) {
        await kv.put(node, encodeFleet(report(node)));
        await new Promise((r) => setTimeout(r, 20));
      }
      let left = nodes.length;
      const deadline = Date.now() + 5_000;
      while (left > 0 && Date.now() < deadline) {
        const started = Date.now();
        const listed = await Promise.race([
          readRegistry(nc, kv, 'expiring'),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`round ${round}: read ${reads + 1} did not finish within 2 s`)), 2_000)),
        ]);
        slowest = Math.max(slowest, Date.now() - started);
        reads++;
        left = listed.length;
      }
      assert.equal(left, 0, `round ${round}: every entry expired within the TTL`);
    }
    assert.ok(reads >= 30, `only ${reads} reads`);
    assert.ok(slowest < 1_000, `the slowest read took ${slowest} ms`);
  });
});
