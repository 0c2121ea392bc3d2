/**
 * Three controllers on loopback in one fleet through a real NATS server
 * (JetStream): the registry's contents, a rolling reload under HTTP load on
 * all three with no failed request, a canary abort (one host given broken
 * code), drain, and a host killed with SIGKILL dropping out within the TTL.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeEvent, decodeReply, encodeFleet, subjects, type FleetEvent, type NodeReport } from '../../protocol/fleet-messages.js';
import { openRegistry, readRegistry } from '../../src/fleet/registry.js';
import { startLoad, stopAllLoads } from '../helpers/load.js';
import { disposeAllNats, startNats, type NatsServer } from '../helpers/nats.js';
import { fleetMembers, killAllServers, runCli, startServer, type RunningServer } from '../helpers/server.js';
import { statusUrl } from '../helpers/status.js';
import { waitFor } from '../helpers/wait.js';

const FLEET = 'itest';
const TTL_SECONDS = 2;
const NODES = ['alpha', 'bravo', 'charlie'];

const versionApp = (v: string): string => `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"${v}"]
`;
const BROKEN_APP = `
raise RuntimeError("canary: this build is broken")
`;

function get(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

interface Host {
  name: string;
  dir: string;
  server: RunningServer;
  statusPort: number;
}

describe('fleet over NATS', { concurrency: false, timeout: 180_000 }, () => {
  let nats: NatsServer;
  let watcher: NatsConnection;
  const events: FleetEvent[] = [];
  const hosts = new Map<string, Host>();
  const natsArgs = (): string[] => ['--nats', nats.url, '--fleet', FLEET];

  const fleet = (...args: string[]) => runCli(['fleet', ...args, ...natsArgs()], { timeoutMs: 60_000 });
  const registry = (): Promise<NodeReport[]> => fleetMembers(natsArgs(), { timeoutMs: 60_000 });
  const writeApp = (name: string, text: string): void => writeFileSync(path.join(hosts.get(name)!.dir, 'app.py'), text);

  before(async () => {
    nats = await startNats();
    watcher = await connect({ servers: nats.url });
    watcher.subscribe(subjects.allEvents(FLEET), {
      callback: (err, msg) => {
        if (!err) events.push(decodeEvent(msg.data));
      },
    });
    await Promise.all(
      NODES.map(async (name) => {
        const dir = mkdtempSync(path.join(tmpdir(), `spawning-fleet-${name}-`));
        writeFileSync(path.join(dir, 'app.py'), versionApp('v1'));
        const server = await startServer({
          cwd: dir,
          args: ['--processes', '1', '--threads', '2', '--status-port', '0', ...natsArgs(), '--node-name', name, '--fleet-ttl', String(TTL_SECONDS), 'app.app'],
        });
        await server.waitForStderr(/fleet: joined fleet/);
        const statusPort = Number(new URL(await statusUrl(server)).port);
        hosts.set(name, { name, dir, server, statusPort });
      }),
    );
  });

  after(async () => {
    await stopAllLoads();
    killAllServers();
    await watcher?.close();
    await disposeAllNats();
    for (const h of hosts.values()) rmSync(h.dir, { recursive: true, force: true });
  });

  test('fleet status lists every host with its numbers', async () => {
    const reports = await waitFor(async () => {
      const r = await registry();
      return r.length === 3 && r.every((x) => x.children.ready === 1) ? r : null;
    }, 'three ready hosts in the registry');
    assert.deepEqual(reports.map((r) => r.node), NODES);
    for (const r of reports) {
      const host = hosts.get(r.node)!;
      assert.equal(r.pid, host.server.proc.pid);
      assert.equal(r.url, host.server.url);
      assert.equal(r.state, 'serving');
      assert.equal(r.generation, 1);
      assert.deepEqual(r.children, { ready: 1, configured: 1 });
      assert.equal(r.fleet, FLEET);
      assert.match(r.version, /^\d+\.\d+\.\d+/);
      assert.ok(r.rssBytes > 20 * 1024 * 1024, `rss ${r.rssBytes}`);
      assert.ok(Date.now() - r.updatedAt < TTL_SECONDS * 1000, 'entry not refreshed by the heartbeat');
    }
    const table = await fleet('status');
    assert.equal(table.code, 0);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NODE\s+STATE\s+GEN\s+CHILDREN\s+REQ\/S\s+RSS/);
    for (const [i, name] of NODES.entries()) assert.match(lines[i + 1]!, new RegExp(`^${name}\\s+serving\\s+1\\s+1/1\\s`));
    for (const name of NODES) assert.ok(events.some((e) => e.t === 'joined' && e.node === name && e.generation === 1), `no joined event from ${name}`);
    // The status listener shows the fleet too.
    const page = JSON.parse((await get(hosts.get('alpha')!.statusPort, '/status.json')).body) as { fleet: { members: NodeReport[]; membership: string } };
    assert.equal(page.fleet.membership, 'joined');
    assert.deepEqual(page.fleet.members.map((m) => m.node), NODES);
  });

  test('a reload request that arrives after its requester stopped waiting is refused', async () => {
    // What a partition does to a request: it is delivered once the link heals, long after the CLI gave up.
    const stale = await watcher.request(subjects.command(FLEET, 'alpha'), encodeFleet({ t: 'reload', expiresAt: Date.now() - 5000 }), { timeout: 10_000 });
    assert.deepEqual(decodeReply(stale.data), { t: 'error', message: 'the reload request expired before it arrived' });
    await hosts.get('alpha')!.server.waitForStderr(/a reload request arrived \d+ ms after its requester stopped waiting; not reloading/);
    assert.doesNotMatch(hosts.get('alpha')!.server.stderr(), /fleet: reload requested/);
    assert.equal((await registry()).find((r) => r.node === 'alpha')?.generation, 1);
  });

  test('requests/s in the registry follows the load', async () => {
    const load = startLoad(hosts.get('bravo')!.server.port, '/', 4);
    try {
      const busy = await waitFor(async () => (await registry()).find((r) => r.node === 'bravo' && r.requestsPerSecond > 50), 'bravo reporting requests/s', 10_000, 300);
      assert.ok(busy.requestsPerSecond > 50);
    } finally {
      await load.stop();
    }
  });

  test('fleet reload rolls host by host under load with no failed request', async () => {
    for (const name of NODES) writeApp(name, versionApp('v2'));
    events.length = 0;
    const loads = NODES.map((n) => startLoad(hosts.get(n)!.server.port, '/', 4, (body) => body === 'v1' || body === 'v2'));
    const result = await fleet('reload');
    const reports = await Promise.all(loads.map((l) => l.stop()));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /batch 1\/3 \(canary\): alpha/);
    assert.match(result.stderr, /3 hosts reloaded/);
    for (const [i, r] of reports.entries()) {
      assert.equal(r.failed, 0, `${NODES[i]}: ${JSON.stringify([...r.reasons])} of ${r.sent}`);
      assert.ok(r.ok > 20, `${NODES[i]}: only ${r.ok} answered`);
    }
    for (const name of NODES) assert.equal((await get(hosts.get(name)!.server.port)).body, 'v2');
    // One host at a time: each host's reload started after the previous one's new generation was ready.
    const order = events.filter((e) => e.t === 'reload-started' || e.t === 'reloaded').map((e) => `${e.node}:${e.t}`);
    assert.deepEqual(order, NODES.flatMap((n) => [`${n}:reload-started`, `${n}:reloaded`]));
    assert.ok(events.some((e) => e.t === 'child-started' && e.node === 'charlie' && e.generation === 2));
    assert.ok(events.some((e) => e.t === 'child-exited' && e.node === 'alpha'));
    const after = await waitFor(async () => {
      const r = await registry();
      return r.every((x) => x.generation === 2 && x.state === 'serving') ? r : null;
    }, 'generation 2 everywhere in the registry');
    assert.equal(after.length, 3);
  });

  test('a host whose new code fails to import stops the rollout (canary abort)', async () => {
    writeApp('alpha', versionApp('v3'));
    writeApp('bravo', BROKEN_APP);
    writeApp('charlie', versionApp('v3'));
    const result = await fleet('reload');
    assert.equal(result.code, 5, result.stderr);
    const error = result.stderr.trim().split('\n').at(-1)!;
    assert.match(error, /^spawning: error: fleet reload stopped at bravo: the new code cannot load: .*canary: this build is broken/);
    assert.match(error, /charlie, bravo keep the old code \[SPAWNING_ERR_FLEET\]$/);
    assert.doesNotMatch(result.stderr, /charlie: generation \d+ ready/);
    // Then one line per host, from each host's own report.
    assert.match(result.stderr, /^spawning: fleet reload: alpha: generation 3 \(reloaded from 2\)$/m);
    assert.match(result.stderr, /^spawning: fleet reload: bravo: generation 2 \(failed: the new code cannot load: .*canary: this build is broken/m);
    assert.match(result.stderr, /^spawning: fleet reload: charlie: generation 2 \(not asked\)$/m);
    assert.equal((await get(hosts.get('alpha')!.server.port)).body, 'v3');
    assert.equal((await get(hosts.get('bravo')!.server.port)).body, 'v2');
    assert.equal((await get(hosts.get('charlie')!.server.port)).body, 'v2');
    const gens = Object.fromEntries((await registry()).map((r) => [r.node, r.generation]));
    assert.deepEqual(gens, { alpha: 3, bravo: 2, charlie: 2 });
    writeApp('bravo', versionApp('v2'));
  });

  test('fleet drain turns /healthz 503 at once and takes the host out after the grace period', async () => {
    const charlie = hosts.get('charlie')!;
    assert.equal((await get(charlie.statusPort, '/healthz')).status, 200);
    const result = await fleet('drain', 'charlie', '--grace', '3');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /charlie is draining/);
    assert.deepEqual(await get(charlie.statusPort, '/healthz'), { status: 503, body: 'draining\n' });
    assert.equal((await get(charlie.server.port)).body, 'v2', 'still serving during the grace period');
    const during = await registry();
    assert.equal(during.find((r) => r.node === 'charlie')?.state, 'draining', JSON.stringify(during));
    const exit = await charlie.server.exited;
    assert.equal(exit.code, 0);
    assert.deepEqual((await registry()).map((r) => r.node), ['alpha', 'bravo']);
    const missing = await fleet('drain', 'charlie');
    assert.equal(missing.code, 5);
    assert.match(missing.stderr, /no controller named 'charlie' answers in fleet 'itest'/);
  });

  test('a host killed with SIGKILL drops out of the registry within the TTL', async () => {
    const alpha = hosts.get('alpha')!;
    alpha.server.proc.kill('SIGKILL');
    const killedAt = Date.now();
    // Read the bucket directly: a CLI run per poll would blur the timing.
    const kv = (await openRegistry(watcher, FLEET))!;
    await waitFor(async () => !(await readRegistry(watcher, kv, FLEET)).some((r) => r.node === 'alpha'), 'alpha gone from the registry', (TTL_SECONDS + 5) * 1000, 100);
    const gone = Date.now() - killedAt;
    assert.ok(gone <= (TTL_SECONDS + 2) * 1000, `alpha stayed ${gone} ms`);
    process.stderr.write(`fleet test: a SIGKILLed host left the registry after ${gone} ms (TTL ${TTL_SECONDS} s)\n`);
    assert.deepEqual((await registry()).map((r) => r.node), ['bravo']);
  });

  test('a rollout names a host that dropped out of the registry and does not call itself complete; one that stopped cleanly is not named', async () => {
    // alpha (SIGKILL above) left its entry to expire: the roster still remembers it. charlie stopped cleanly.
    const listed = await fleet('status');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^dropped out of the registry lately: alpha \(generation 3, last seen \d+s ago\)$/m);
    const result = await fleet('reload');
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /^spawning: fleet reload: alpha: not in the registry \(its entry expired; generation 3, last seen \d+s ago\): cannot be asked$/m);
    assert.match(result.stderr, /^spawning: fleet reload: bravo: generation 3 ready \(was 2\)$/m);
    assert.match(result.stderr, /fleet reload incomplete; alpha \(generation 3, last seen \d+s ago\) dropped out of the registry and was not reloaded \[SPAWNING_ERR_FLEET\]$/m);
    assert.doesNotMatch(result.stderr + listed.stdout, /charlie/);
  });
});
