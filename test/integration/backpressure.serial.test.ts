/**
 * A child gives its worker only as many requests as it has threads; the rest
 * wait in the child up to --max-queue, then 503 with Retry-After. A request
 * past --timeout gets 504 and its hung worker is replaced gracefully.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, test } from 'node:test';
import { burst, statusCounts } from '../helpers/burst.js';
import { childPids, isAlive, workerPids } from '../helpers/processes.js';
import { killAllServers, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

after(() => killAllServers());

function get(port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}

describe('backpressure', { timeout: 120_000 }, () => {
  test('--threads=4: 2,000 concurrent long polls run four at a time, --max-queue wait, the rest get 503 at once', async () => {
    const server = await startServer({ args: ['--processes', '1', '--threads', '4', '--max-queue', '4', '-l', '/dev/null', 'concurrency_apps:app'] });
    try {
      // Waits of 1.5 s: all 2,000 connect well before the first round ends, even on a busy machine.
      const result = await burst(server.port, '/sleep?s=1.5', 2000);
      assert.deepEqual([...result.errors], []);
      assert.deepEqual(statusCounts(result.answers), { 200: 8, 503: 1992 });
      const shed = result.answers.filter((a) => a.status === 503);
      assert.ok(shed.every((a) => a.headers.get('retry-after') === '1'), 'a 503 without Retry-After: 1');
      assert.match(shed[0]!.body, /^Service Unavailable: the worker is busy \(4 requests running, 4 waiting\)/);
      // Served in two rounds of four: the second round waited a whole round in the child.
      // (Times count from the start of the burst, which takes a while to open 2,000 connections.)
      const served = result.answers.filter((a) => a.status === 200).map((a) => a.ms).sort((a, b) => a - b);
      const rounds = [served.slice(0, 4).map(Math.round), served.slice(4).map(Math.round)];
      assert.ok(rounds.every((r) => r[3]! - r[0]! < 500), `rounds: ${JSON.stringify(rounds)}`);
      assert.ok(served[4]! - served[3]! >= 1000, `rounds: ${JSON.stringify(rounds)}`);
      // Shed at once, not after waiting for a thread.
      const shedMs = Math.max(...shed.map((a) => a.ms));
      assert.ok(shedMs < served[0]!, `503s took up to ${Math.round(shedMs)} ms`);
    } finally {
      await server.stop();
    }
  });
});

describe('--timeout', { timeout: 120_000 }, () => {
  for (const threads of ['2', '1']) {
    test(`--threads=${threads}: a hung request gets 504, the worker is replaced once its other requests finished, the child keeps serving`, async () => {
      const server = await startServer({ args: ['--processes', '1', '--threads', threads, '--timeout', '2', '-l', '/dev/null', 'concurrency_apps:app'] });
      try {
        const [child] = childPids(server.proc.pid!);
        const [hungWorker] = workerPids(server.proc.pid!);
        assert.equal((await get(server.port, '/pid')).body, String(hungWorker));
        const hung = get(server.port, '/sleep?s=60');
        // With two threads, a request that started on the same worker before the hang and ends after the swap.
        const other = threads === '2' ? (await new Promise((r) => setTimeout(r, 1000)), get(server.port, '/sleep?s=1.8')) : null;
        const timedOut = await hung;
        assert.equal(timedOut.status, 504);
        assert.match(timedOut.body, /^Gateway Timeout: the app did not answer within 2 s/);
        assert.ok(timedOut.ms >= 1950 && timedOut.ms < 4000, `504 after ${Math.round(timedOut.ms)} ms`);
        await server.waitForStderr(/ran past --timeout 2 s: 504; replacing worker \d+/);

        // New requests are answered meanwhile, and by the replacement once it is ready.
        const fresh = await waitFor(async () => {
          const r = await get(server.port, '/pid');
          assert.equal(r.status, 200);
          return r.body !== String(hungWorker) ? Number(r.body) : null;
        }, 'the replacement worker to answer');
        if (other) {
          const finished = await other;
          assert.deepEqual([finished.status, finished.body], [200, 'woke'], 'the in-flight request of the hung worker was lost');
        }
        // The hung worker is killed once only the hung request is left; the child itself is the same.
        await waitFor(() => !isAlive(hungWorker!), 'the hung worker to be killed', 5000);
        assert.deepEqual(childPids(server.proc.pid!), [child]);
        assert.deepEqual(workerPids(server.proc.pid!), [fresh]);
        const after = await burst(server.port, '/pid', 20);
        assert.deepEqual(statusCounts(after.answers), { 200: 20 });
        assert.doesNotMatch(server.stderr(), /answered 502/);
      } finally {
        await server.stop();
      }
    });
  }
});
