/**
 * The status service against a real server: exact counts in /status.json and
 * /metrics after known traffic (and after a reload replaced every child),
 * /healthz through a graceful stop, the 127.0.0.1 default, a stuck child, bad
 * status flags and --inspect.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { childPids } from '../helpers/processes.js';
import { killAllServers, runCli, startServer, type RunningServer } from '../helpers/server.js';
import { metric, statusUrl } from '../helpers/status.js';
import { waitFor } from '../helpers/wait.js';
import { FIXTURES_DIR, VENV_PYTHON } from '../helpers/repo.js';

interface Fetched {
  status: number;
  body: string;
  ms: number;
}

function get(url: string, timeoutMs = 10_000): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

interface StatusJson {
  health: string;
  generation: number;
  processes: number;
  fronts: number;
  requests_total: number;
  shed_total: number;
  timed_out_total: number;
  queued_requests: number;
  responses: Record<string, number>;
  active_children_count: number;
  configured_children_count: number;
  concurrent_requests: number;
  children: { id: number; pid: number; worker_pid: number | null; requests: number; responsive: boolean; state: string; machine_state: string | null; generation: number; workers: { pid: number }[] }[];
  counts: { reloads: number };
  machines: { controller: string[]; status: string[]; reloader: string[] | null };
  config: Record<string, unknown>;
  events: { kind: string; message: string }[];
}

const statusJson = async (base: string): Promise<StatusJson> => JSON.parse((await get(`${base}/status.json`)).body) as StatusJson;

after(killAllServers);

describe('status service', () => {
  test('processes counts Python workers and fronts counts children, also after TTIN adds a front with its share', async () => {
    const server = await startServer({ args: ['--processes', '3', '--fronts', '2', '--status-port', '0', 'integration_apps.app'] });
    const base = await statusUrl(server);
    const workersSeen = (json: StatusJson): number[] => json.children.map((c) => c.workers.length).sort();
    const s = await waitFor(async () => {
      const json = await statusJson(base);
      return json.children.length === 2 && workersSeen(json).join() === '1,2' ? json : null;
    }, 'two fronts reporting their workers');
    assert.equal(s.processes, 3);
    assert.equal(s.fronts, 2);
    assert.equal(s.configured_children_count, 2);
    server.proc.kill('SIGTTIN');
    const grown = await waitFor(async () => {
      const json = await statusJson(base);
      return json.children.length === 3 && json.active_children_count === 3 ? json : null;
    }, 'a third front');
    // The new slot gets as many workers as the first.
    assert.deepEqual([grown.processes, grown.fronts, workersSeen(grown).join()], [5, 3, '1,2,2']);
    await server.stop();
  });

  test('counts known traffic exactly, in status.json and /metrics, and keeps them across a reload', async () => {
    const server = await startServer({ args: ['--processes', '2', '--fronts', '2', '--status-port', '0', 'integration_apps.app'] });
    const base = await statusUrl(server);
    const app = `http://127.0.0.1:${server.port}`;
    for (let i = 0; i < 30; i++) assert.equal((await get(`${app}/hello`)).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await get(`${app}/missing`)).status, 404);
    for (let i = 0; i < 3; i++) assert.equal((await get(`${app}/error`)).status, 500);

    const s = await waitFor(async () => {
      const json = await statusJson(base);
      return json.requests_total === 38 ? json : null;
    }, 'status.json to count 38 requests');
    assert.deepEqual(s.responses, { '1xx': 0, '2xx': 30, '3xx': 0, '4xx': 5, '5xx': 3 });
    assert.equal(s.active_children_count, 2);
    assert.equal(s.configured_children_count, 2);
    assert.equal(s.concurrent_requests, 0);
    assert.equal(s.health, 'serving');
    assert.deepEqual(new Set(s.children.map((c) => c.pid)), new Set(childPids(server.proc.pid!)));
    assert.equal(s.children.reduce((n, c) => n + c.requests, 0), 38);
    for (const c of s.children) {
      assert.ok(c.worker_pid && c.responsive && c.state === 'ready' && c.machine_state === 'serving', JSON.stringify(c));
    }
    assert.deepEqual(s.machines.controller, ['active_running_steady']);
    assert.deepEqual(s.machines.status, ['listening_serving']);
    assert.equal(s.config.processes, 2);

    const m = (await get(`${base}/metrics`)).body;
    assert.equal(metric(m, 'spawning_requests_total{status_class="2xx"}'), 30);
    assert.equal(metric(m, 'spawning_requests_total{status_class="4xx"}'), 5);
    assert.equal(metric(m, 'spawning_requests_total{status_class="5xx"}'), 3);
    assert.equal(metric(m, 'spawning_request_duration_seconds_count'), 38);
    assert.equal(metric(m, 'spawning_request_duration_seconds_bucket{le="+Inf"}'), 38);
    assert.equal(metric(m, 'spawning_children_ready'), 2);
    assert.equal(metric(m, 'spawning_children_configured'), 2);
    assert.equal(metric(m, 'spawning_reloads_total'), 0);
    assert.equal(metric(m, 'spawning_requests_in_flight'), 0);
    assert.ok(metric(m, `spawning_process_resident_memory_bytes{role="controller",slot="",pid="${server.proc.pid}"}`) > 10e6);

    // A reload replaces both children: what they counted must survive them.
    const oldPids = s.children.map((c) => c.pid);
    server.proc.kill('SIGHUP');
    const after = await waitFor(async () => {
      const json = await statusJson(base);
      return json.generation === 2 && json.children.length === 2 && json.children.every((c) => !oldPids.includes(c.pid)) ? json : null;
    }, 'generation 2 to replace both children', 20_000);
    assert.equal(after.requests_total, 38);
    assert.equal(after.counts.reloads, 1);
    assert.ok(after.events.some((e) => e.kind === 'reloaded' && /generation 2/.test(e.message)), JSON.stringify(after.events));
    const m2 = (await get(`${base}/metrics`)).body;
    assert.equal(metric(m2, 'spawning_requests_total{status_class="2xx"}'), 30);
    assert.equal(metric(m2, 'spawning_request_duration_seconds_count'), 38);
    assert.equal(metric(m2, 'spawning_reloads_total'), 1);
    await server.stop();
  });

  test('counts requests shed by a full queue and timed out, in status.json and /metrics', async () => {
    const server = await startServer({ args: ['--processes', '1', '--threads', '1', '--max-queue', '1', '--timeout', '1', '--status-port', '0', 'integration_apps.app'] });
    const base = await statusUrl(server);
    const app = `http://127.0.0.1:${server.port}`;
    const running = get(`${app}/slow?seconds=3`);
    await waitFor(async () => (await statusJson(base)).concurrent_requests === 1, 'the first request to run');
    const queued = get(`${app}/slow?seconds=3`);
    await waitFor(async () => (await statusJson(base)).queued_requests === 1, 'the second request to queue');
    assert.equal((await get(`${app}/slow?seconds=3`)).status, 503);
    assert.deepEqual([(await running).status, (await queued).status], [504, 504]);
    const s = await waitFor(async () => {
      const json = await statusJson(base);
      return json.timed_out_total === 2 ? json : null;
    }, 'both timeouts to be counted');
    assert.equal(s.shed_total, 1);
    assert.equal(s.responses['5xx'], 3);
    const m = (await get(`${base}/metrics`)).body;
    assert.equal(metric(m, 'spawning_requests_shed_total'), 1);
    assert.equal(metric(m, 'spawning_requests_timed_out_total'), 2);
    assert.equal(metric(m, 'spawning_queue_waits_total'), 1);
    const waited = metric(m, 'spawning_queue_wait_seconds_total');
    assert.ok(waited > 0.05 && waited < 3, `the queued request waited ${waited} s, until the first one timed out`);
    await server.stop();
  });

  test('/healthz answers 503 from the moment a graceful stop begins while requests finish', async () => {
    const server = await startServer({ args: ['--processes', '1', '--status-port', '0', 'integration_apps.app'] });
    const base = await statusUrl(server);
    assert.deepEqual(await get(`${base}/healthz`).then((r) => [r.status, r.body]), [200, 'serving\n']);
    const slow = get(`http://127.0.0.1:${server.port}/slow?seconds=2`);
    await waitFor(async () => (await statusJson(base)).concurrent_requests === 1, 'the slow request to be in flight');
    server.proc.kill('SIGTERM');
    const during = await waitFor(async () => {
      const r = await get(`${base}/healthz`);
      return r.status === 503 ? r : null;
    }, '/healthz to turn 503', 1500, 20);
    assert.equal(during.body, 'stopping\n');
    assert.equal((await statusJson(base)).health, 'stopping');
    assert.deepEqual(await slow.then((r) => [r.status, r.body]), [200, 'slept']);
    assert.equal((await server.exited).code, 0);
  });

  test('binds 127.0.0.1 by default, not the service host, and never shows secrets', async () => {
    // A NATS server that is not there: the fleet keeps retrying while HTTP is served.
    const secrets = ['--nats', 'nats://127.0.0.1:1', '--nats-token', 's3cret-token'];
    const server = await startServer({ address: ['--host', '0.0.0.0', '--port', '0'], args: ['--processes', '1', '--status-port', '0', ...secrets, 'integration_apps.app'] });
    const base = await statusUrl(server);
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const body = (await get(`${base}/status.json`)).body;
    assert.equal((JSON.parse(body) as StatusJson).config.nats_token, '(set)');
    assert.doesNotMatch(body, /s3cret/);
    assert.equal((JSON.parse(body) as StatusJson).config.grace, undefined, 'fleet-command settings are not server config');
    const port = Number(new URL(base).port);
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (external) {
      // The application answers on every interface; the status service only on loopback.
      assert.equal((await get(`http://${external}:${server.port}/hello`)).status, 200);
      await assert.rejects(get(`http://${external}:${port}/status.json`), /ECONNREFUSED/);
    }
    await server.stop();
  });

  test('answers at once while a child is stuck, marking it unresponsive', async () => {
    const server = await startServer({ args: ['--processes', '2', '--fronts', '2', '--status-port', '0', 'integration_apps.app'] });
    const base = await statusUrl(server);
    const [stuck] = childPids(server.proc.pid!);
    process.kill(stuck!, 'SIGSTOP');
    try {
      const s = await waitFor(async () => {
        const json = await statusJson(base);
        return json.children.find((c) => c.pid === stuck && !c.responsive) ? json : null;
      }, 'the stopped child to be marked unresponsive', 6000, 200);
      assert.ok(s.children.some((c) => c.pid !== stuck && c.responsive), 'the other child is fine');
      const timed = await get(`${base}/status.json`);
      assert.ok(timed.ms < 500, `status.json took ${timed.ms} ms`);
      assert.equal((await get(`${base}/metrics`)).status, 200);
    } finally {
      process.kill(stuck!, 'SIGCONT');
    }
    await waitFor(async () => (await statusJson(base)).children.every((c) => c.responsive), 'the child to report again');
    await server.stop();
  });

  test('rejects the service port as status port, and a status port in use, each with one line', async () => {
    const same = await runCli(['--port', '18473', '--status-port', '18473', 'integration_apps.app'], { cwd: FIXTURES_DIR });
    assert.equal(same.code, 2);
    assert.match(same.stderr, /^spawning: error: --status-port 18473 is the port the application is served on; choose another port for the status service \[SPAWNING_ERR_CONFIG\]\n$/);

    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    const busy = await runCli(['--host', '127.0.0.1', '--port', '0', '--python', VENV_PYTHON, '--status-port', String(taken), 'integration_apps.app'], { cwd: FIXTURES_DIR });
    blocker.close();
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, new RegExp(`spawning: error: cannot serve the status service on 127\\.0\\.0\\.1:${taken}: the address is already in use \\[SPAWNING_ERR_BIND\\]`));
  });
});

describe('--inspect', () => {
  test('streams actor events once the inspector comes up, and stops retrying on shutdown', async () => {
    // Reserve a port, then leave it closed: the first connection attempts fail.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const server = await startServer({ args: ['--processes', '1', '--inspect', `ws://127.0.0.1:${port}`, 'integration_apps.app'] });
    await server.waitForStderr(/inspector ws:\/\/127\.0\.0\.1:\d+: .*retrying/);
    const received: { type: string; name?: string; snapshot?: { value?: unknown } }[] = [];
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    wss.on('connection', (ws) => ws.on('message', (data) => received.push(JSON.parse(String(data)) as (typeof received)[number])));
    try {
      await waitFor(() => received.some((e) => e.type === '@xstate.actor' && e.name === 'controller') && received.some((e) => e.type === '@xstate.actor' && e.name === 'child'), 'controller and child actors to be announced', 10_000, 100);
      assert.ok(received.some((e) => e.type === '@xstate.snapshot'), 'snapshots are streamed');
      assert.ok(received.some((e) => e.type === '@xstate.event'), 'events are streamed');
    } finally {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
    // With the inspector gone and retrying, a stop must still be prompt.
    const started = Date.now();
    assert.equal((await server.stop('SIGTERM', 10_000)).code, 0);
    assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms`);
  });
});
