/**
 * --proxy-protocol against a real server: v1 and v2 headers over raw sockets,
 * and HAProxy itself (Debian's haproxy, `send-proxy` and `send-proxy-v2`)
 * when it is installed. Loopback has every 127/8 address, so clients bind
 * 127.0.0.2 or .3 and the server can tell them from the proxy (127.0.0.1,
 * the default --forwarded-allow-ips).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseResponses, requestHead, type RawResponse } from '../helpers/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2ipv4(src: number[], sport: number): Buffer {
  const b = Buffer.alloc(16 + 12);
  SIG.copy(b, 0);
  b[12] = 0x21;
  b[13] = 0x11;
  b.writeUInt16BE(12, 14);
  b.set(src, 16);
  b.set([10, 0, 0, 1], 20);
  b.writeUInt16BE(sport, 24);
  b.writeUInt16BE(80, 26);
  return b;
}

interface Outcome {
  responses: RawResponse[];
  closed: boolean;
}

/** Sends `pieces` (one write each, waiting for each to leave) from `localAddress`; reads until `n` responses or the close. */
async function talk(port: number, pieces: Array<string | Buffer>, n: number, localAddress = '127.0.0.2'): Promise<Outcome> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  for (const piece of pieces) await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
  await waitFor(() => closed || parseResponses(Buffer.concat(chunks)).length >= n, `${n} responses or the close`);
  socket.destroy();
  return { responses: parseResponses(Buffer.concat(chunks)), closed };
}

const env = (r: RawResponse): { REMOTE_ADDR: string; REMOTE_PORT: string } => JSON.parse(r.body.toString()) as { REMOTE_ADDR: string; REMOTE_PORT: string };

describe('PROXY protocol', { timeout: 120_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ args: ['--processes', '1', '--threads', '2', '--proxy-protocol', 'edge_apps:app'] });
  });

  after(async () => {
    await server?.stop();
  });

  test('v1: the header names REMOTE_ADDR and REMOTE_PORT for every request of the connection', async () => {
    const out = await talk(server.port, ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n' + requestHead('GET', '/environ') + requestHead('GET', '/environ')], 2, '127.0.0.1');
    assert.equal(out.responses.length, 2);
    for (const r of out.responses) assert.deepEqual(env(r), { REMOTE_ADDR: '192.0.2.1', REMOTE_PORT: '56324', HTTP_TRACEPARENT: null, HTTP_TRACESTATE: null });
  });

  test('v1 over IPv6, the header split across writes', async () => {
    const header = 'PROXY TCP6 2001:db8::7 2001:db8::1 4711 80\r\n';
    const out = await talk(server.port, [header.slice(0, 3), header.slice(3, 20), header.slice(20) + requestHead('GET', '/environ')], 1, '127.0.0.1');
    assert.equal(env(out.responses[0]!).REMOTE_ADDR, '2001:db8::7');
    assert.equal(env(out.responses[0]!).REMOTE_PORT, '4711');
  });

  test('v2: binary header, the request in the same packet', async () => {
    const out = await talk(server.port, [Buffer.concat([v2ipv4([203, 0, 113, 9], 40001), Buffer.from(requestHead('GET', '/environ'))])], 1, '127.0.0.1');
    assert.deepEqual([env(out.responses[0]!).REMOTE_ADDR, env(out.responses[0]!).REMOTE_PORT], ['203.0.113.9', '40001']);
  });

  test('v2 LOCAL keeps the peer address', async () => {
    const local = Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    const out = await talk(server.port, [Buffer.concat([local, Buffer.from(requestHead('GET', '/environ'))])], 1, '127.0.0.1');
    assert.equal(env(out.responses[0]!).REMOTE_ADDR, '127.0.0.1');
  });

  test('a connection without a header is served with its own address', async () => {
    const out = await talk(server.port, [requestHead('GET', '/environ')], 1, '127.0.0.2');
    assert.equal(env(out.responses[0]!).REMOTE_ADDR, '127.0.0.2');
  });

  test('a header from a peer not in --forwarded-allow-ips closes the connection', async () => {
    const out = await talk(server.port, ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n' + requestHead('GET', '/environ')], 1, '127.0.0.3');
    assert.equal(out.closed, true);
    assert.equal(out.responses.length, 0);
    await server.waitForStderr(/PROXY protocol from 127\.0\.0\.3: a header from a peer not in --forwarded-allow-ips; connection closed/);
  });

  test('a malformed header closes the connection', async () => {
    for (const bad of ['PROXY TCP4 192.0.2.1 nonsense 1 2\r\n', Buffer.concat([SIG, Buffer.from([0x13, 0x11, 0x00, 0x00])])]) {
      const out = await talk(server.port, [Buffer.concat([Buffer.from(bad), Buffer.from(requestHead('GET', '/environ'))])], 1, '127.0.0.1');
      assert.equal(out.closed, true);
      assert.equal(out.responses.length, 0);
    }
    // Still serving.
    const ok = await talk(server.port, [requestHead('GET', '/hello')], 1);
    assert.equal(ok.responses[0]?.status, 200);
  });

  const haproxy = spawnSync('haproxy', ['-v']).status === 0 ? 'haproxy' : spawnSync('/usr/sbin/haproxy', ['-v']).status === 0 ? '/usr/sbin/haproxy' : null;
  test('HAProxy send-proxy and send-proxy-v2', { skip: haproxy === null ? 'haproxy is not installed (Debian package haproxy)' : false }, async () => {
    const ports = await freePorts(2);
    const dir = mkdtempSync(path.join(tmpdir(), 'spawning-haproxy-'));
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'global',
        '  maxconn 64',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        ...['send-proxy', 'send-proxy-v2'].flatMap((how, i) => [
          `listen l${i}`,
          `  bind 127.0.0.1:${ports[i]}`,
          `  server s${i} 127.0.0.1:${server.port} ${how}`,
        ]),
        '',
      ].join('\n'),
    );
    let proc: ChildProcess | null = null;
    try {
      proc = spawn(haproxy!, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      for (const port of ports) {
        await waitFor(() => tryConnect(port), `haproxy to listen on ${port} (${stderr})`);
        const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        await new Promise((resolve) => socket.once('connect', resolve));
        const localPort = socket.localPort!;
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.write(requestHead('GET', '/environ'));
        await waitFor(() => parseResponses(Buffer.concat(chunks)).length >= 1, 'the answer through haproxy');
        socket.destroy();
        const e = env(parseResponses(Buffer.concat(chunks))[0]!);
        // The client as HAProxy saw it, not HAProxy's own connection.
        assert.deepEqual([e.REMOTE_ADDR, e.REMOTE_PORT], ['127.0.0.2', String(localPort)]);
      }
    } finally {
      proc?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Ports from this test's range (23000-23999) that nothing listens on now. */
async function freePorts(n: number): Promise<number[]> {
  const found: number[] = [];
  for (let port = 23100 + Math.floor(Math.random() * 800); found.length < n && port < 24000; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) found.push(port);
  }
  return found;
}
