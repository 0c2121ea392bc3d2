/**
 * Bounded logging under attack (issue 17): fuzzed requests and slowloris
 * connections against a real server. Of each kind of refusal the child logs
 * the first few in full and then one summary line per interval, however many
 * come; every one is counted in status.json and /metrics; the access log
 * gets none of them.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FULL_LINES } from '../../src/http/client-error.js';
import { freshGet } from '../helpers/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { statusUrl } from '../helpers/status.js';
import { waitFor } from '../helpers/wait.js';

const FUZZED = 1500;
const SLOW = 300;

/** A request the front must refuse, mutated at random; the status it must get. */
function fuzzed(): [string, number] {
  const junk = (): string => String.fromCharCode(...Array.from({ length: randomInt(1, 8) }, () => randomInt(0, 32)));
  switch (randomInt(0, 5)) {
    case 0: // a control byte in a header name
      return [`GET /x HTTP/1.1\r\nHost: a\r\nX-${junk()}y: 1\r\n\r\n`, 400];
    case 1: // a method that is no method
      return [`G${junk()}T /x HTTP/1.1\r\nHost: a\r\n\r\n`, 400];
    case 2: // whitespace before a colon (RFC 9112 §5.1)
      return [`GET /x HTTP/1.1\r\nHost: a\r\nX-${randomInt(0, 1e6)} : 1\r\n\r\n`, 400];
    case 3: // a head past --max-header-size
      return [`GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(9000 + randomInt(0, 1000))}\r\n\r\n`, 431];
    default: // not HTTP/1.x
      return [`GET /x${randomInt(0, 1e6)} HTTP/2.0\r\nHost: a\r\n\r\n`, 505];
  }
}

/** Sends `raw` on its own connection; the status of the answer (0: closed without one). */
function refuse(port: number, raw: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)));
    socket.on('connect', () => socket.write(raw, 'latin1'));
  });
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  return JSON.parse(await freshGet(url)) as Record<string, unknown>;
}


describe('bounded logging of refused requests', { timeout: 180_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let accessLog: string;
  let status: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-client-errors-'));
    accessLog = path.join(dir, 'access.log');
    server = await startServer({
      args: ['--processes', '1', '--threads', '2', '--error-log-interval', '1', '--headers-timeout', '1', '--max-header-size', '8192', '--status-port', '0', '-l', accessLog, 'integration_apps:app'],
    });
    status = await statusUrl(server);
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The child's lines about refusals of `kind`: [full lines, summed-up counts]. */
  const logged = (kind: string, label: string): { full: number; summed: number; summaries: number } => {
    const lines = server.stderr().split('\n');
    const full = lines.filter((l) => new RegExp(`^spawning: child \\d+: ${kind} for `).test(l)).length;
    const summaries = lines.map((l) => new RegExp(`^spawning: child \\d+: ${label} ×([\\d,]+) from \\d+ address(?:es)? in the last 1 s$`).exec(l)).filter((m) => m !== null);
    return { full, summaries: summaries.length, summed: summaries.reduce((n, m) => n + Number(m[1]!.replaceAll(',', '')), 0) };
  };

  test(`${FUZZED} fuzzed requests: a few lines of each kind in full, the rest summed up, every one counted`, async () => {
    const want: Record<string, number> = {};
    const started = Date.now();
    for (let i = 0; i < FUZZED; i += 50) {
      const batch = Array.from({ length: Math.min(50, FUZZED - i) }, fuzzed);
      const got = await Promise.all(batch.map(([raw]) => refuse(server.port, raw)));
      got.forEach((statusCode, j) => {
        assert.equal(statusCode, batch[j]![1], `${JSON.stringify(batch[j]![0].slice(0, 80))} got ${statusCode}`);
        want[String(statusCode)] = (want[String(statusCode)] ?? 0) + 1;
      });
    }
    const labels: Record<string, string> = { '400': '400 bad request', '431': '431 request header fields too large', '505': '505 http version not supported' };
    // Every refusal is either a full line or in a summary, once the last interval has passed.
    await waitFor(() => Object.keys(want).every((k) => { const l = logged(k, labels[k]!); return l.full + l.summed === want[k]; }) || null, 'the summaries of every refusal', 10_000);
    const seconds = (Date.now() - started) / 1000;
    let lines = 0;
    for (const [kind, n] of Object.entries(want)) {
      const l = logged(kind, labels[kind]!);
      assert.ok(l.full <= FULL_LINES * 2, `${l.full} full lines of ${kind}`);
      assert.ok(l.summaries <= seconds + 2, `${l.summaries} summaries of ${kind} in ${seconds} s`);
      lines += l.full + l.summaries;
      assert.ok(n > 100, `${n} of ${kind}`);
    }
    assert.ok(lines < FUZZED / 10, `${lines} lines for ${FUZZED} refusals`);
    const counts = await waitFor(async () => {
      const json = await getJson(`${status}/status.json`);
      const c = json.client_errors as Record<string, number>;
      return Object.keys(want).every((k) => c[k] === want[k]) ? c : null;
    }, 'status.json client_errors');
    assert.deepEqual(counts, want);
    const metrics = await freshGet(`${status}/metrics`);
    for (const [kind, n] of Object.entries(want)) assert.ok(metrics.includes(`spawning_client_errors_total{kind="${kind}"} ${n}\n`), `${kind} ${n} in /metrics`);
  });

  test(`${SLOW} slowloris connections: each answered 408 at the headers timeout, counted, logged in a few lines`, async () => {
    const before408 = ((await getJson(`${status}/status.json`)).client_errors as Record<string, number>)['408'] ?? 0;
    const got = await Promise.all(Array.from({ length: SLOW }, () => refuse(server.port, 'GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: ')));
    assert.deepEqual([...new Set(got)], [408]);
    await waitFor(() => { const l = logged('408', '408 request timeout'); return l.full + l.summed === before408 + SLOW || null; }, 'the summaries of every 408', 10_000);
    const l = logged('408', '408 request timeout');
    assert.ok(l.full + l.summaries <= FULL_LINES + 5, `${l.full} full lines and ${l.summaries} summaries for ${SLOW} slow clients`);
    await waitFor(async () => ((await getJson(`${status}/status.json`)).client_errors as Record<string, number>)['408'] === before408 + SLOW || null, 'status.json counts every 408');
  });

  test('the access log has one line per answered request and none for refusals', async () => {
    await freshGet(`http://127.0.0.1:${server.port}/hello?logged=1`);
    const lines = await waitFor(() => { const text = readFileSync(accessLog, 'utf8'); return text.includes('logged=1') ? text.trim().split('\n') : null; }, 'the access log line');
    assert.equal(lines.length, 1, lines.join('\n'));
  });

  test('connections reset in the middle of a request body are counted as resets', async () => {
    const before = ((await getJson(`${status}/status.json`)).client_errors as Record<string, number>).reset ?? 0;
    const sockets = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const socket = net.connect(server.port, '127.0.0.1');
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write('POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n0123456789');
        return socket;
      }),
    );
    // Reset only once the child holds all 20 requests (a reset before its head was read is no reset of a request).
    await waitFor(async () => (await getJson(`${status}/status.json`)).concurrent_requests === 20 || null, 'the 20 requests in flight');
    for (const socket of sockets) socket.resetAndDestroy();
    await waitFor(async () => ((await getJson(`${status}/status.json`)).client_errors as Record<string, number>).reset === before + 20 || null, 'status.json counts 20 resets');
  });
});
