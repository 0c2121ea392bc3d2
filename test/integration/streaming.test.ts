/**
 * Bodies far larger than memory budgets, both ways: a 200 MB upload hashed by
 * the app while the spawning processes stay small, and a 50 MB response to a
 * client that stops reading, which must not pile up in the worker.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Connection, requestHead } from '../helpers/http.js';
import { childPids, rssBytes, treeRssBytes, workerPids } from '../helpers/processes.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const MB = 1024 * 1024;

describe('streaming bodies', { timeout: 300_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ args: ['--processes', '1', '--threads', '2', '-l', '/dev/null', 'integration_apps:app'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('a 200 MB upload is streamed to the app, never held whole', { timeout: 120_000 }, async (t) => {
    const piece = randomBytes(MB);
    const pieces = 200;
    const expected = createHash('sha256');
    for (let i = 0; i < pieces; i++) expected.update(piece);

    const baselineRss = treeRssBytes(server.proc.pid!);
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, treeRssBytes(server.proc.pid!));
    }, 100);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: server.port, method: 'POST', path: '/hash', headers: { 'content-length': String(pieces * MB) }, signal: t.signal },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`status ${res.statusCode}: ${text}`))));
          },
        );
        req.on('error', reject);
        let sent = 0;
        const pump = (): void => {
          while (sent < pieces) {
            sent++;
            if (!req.write(piece)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      });
      const result = JSON.parse(body) as { sha256: string; length: number };
      assert.equal(result.length, pieces * MB);
      assert.equal(result.sha256, expected.digest('hex'));
    } finally {
      clearInterval(sampler);
    }
    // Idle, the three processes already hold ~130 MB (two Node runtimes and
    // Python), and streaming 200 MB through Node costs ~40 MB of buffer churn
    // that plateaus (600 MB uploads peak at the same level). Holding the body
    // would add 200 MB: the growth bound is what tells the two apart.
    const growth = peakRss - baselineRss;
    const report = `controller + child + worker: ${(baselineRss / MB).toFixed(1)} MB idle, peak ${(peakRss / MB).toFixed(1)} MB`;
    assert.ok(peakRss > 0, 'RSS was sampled');
    assert.ok(growth < 64 * MB, report);
    assert.ok(peakRss < 200 * MB, report);
  });

  test('a client that stops reading a 50 MB response does not make the worker buffer it', { timeout: 120_000 }, async () => {
    const [worker] = workerPids(server.proc.pid!);
    const [child] = childPids(server.proc.pid!);
    assert.ok(worker && child, 'found the worker and child pids');
    const workerBefore = rssBytes(worker);
    const childBefore = rssBytes(child);

    const size = 50 * MB;
    const conn = await Connection.open({ port: server.port });
    try {
      conn.socket.pause();
      conn.send(requestHead('GET', `/stream?size=${size}`));
      // Long enough for an unbounded producer to have pushed most of 50 MB.
      let workerPeak = 0;
      let childPeak = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(100);
        workerPeak = Math.max(workerPeak, rssBytes(worker));
        childPeak = Math.max(childPeak, rssBytes(child));
      }
      assert.ok(workerPeak - workerBefore < 16 * MB, `worker RSS grew by ${((workerPeak - workerBefore) / MB).toFixed(1)} MB`);
      assert.ok(childPeak - childBefore < 32 * MB, `child RSS grew by ${((childPeak - childBefore) / MB).toFixed(1)} MB`);

      conn.socket.resume();
      const res = await conn.next({ timeoutMs: 60_000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, size);
      // Spot-check the pattern (byte i of each 64 KiB chunk is i % 251).
      for (const offset of [0, 1, 250, 251, 65535, 65536, 65537, size - 1]) {
        assert.equal(res.body[offset], (offset % 65536) % 251, `byte at ${offset}`);
      }
    } finally {
      conn.destroy();
    }
  });
});
