/** --max-body-size, --no-keepalive and serving on a Unix socket (--bind unix:…). */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Connection, exchange, parseResponses, requestHead, responsesComplete } from '../helpers/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { acceptedKeepAliveProbeIn } from '../helpers/tcp.js';

describe('--max-body-size and --no-keepalive', { timeout: 120_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ args: ['--processes', '1', '--max-body-size', '1000', '--no-keepalive', 'integration_apps:app'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('a body over the limit (Content-Length) is a 413', async () => {
    const head = requestHead('POST', '/echo', [['Content-Length', '2000']]);
    const { received } = await exchange({ port: server.port }, head + 'x'.repeat(2000), responsesComplete(1));
    assert.equal(parseResponses(received)[0]!.status, 413);
  });

  test('a chunked body that grows over the limit is a 413', async () => {
    const chunk = 'y'.repeat(600);
    const body = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
    const { received } = await exchange({ port: server.port }, requestHead('POST', '/echo', [['Transfer-Encoding', 'chunked']]) + body, responsesComplete(1));
    assert.equal(parseResponses(received)[0]!.status, 413);
  });

  test('a body within the limit is served', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/echo`, { method: 'POST', body: 'z'.repeat(1000) });
    assert.equal(res.status, 200);
    assert.equal((await res.text()).length, 1000);
  });

  test('--no-keepalive: Connection: close and the socket is closed after one response', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', '/hello'));
      const res = await conn.next();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('connection'), 'close');
      await conn.waitClosed(5000);
    } finally {
      conn.destroy();
    }
  });

  test('--no-keepalive leaves TCP keep-alive on: the kernel probes a silent connection after 60 s, not 2 hours', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      // Nothing sent, so the connection stays open; its options are set when a front accepts it.
      const probeIn = await acceptedKeepAliveProbeIn(server.port, conn.socket.localPort!);
      assert.ok(probeIn > 30 && probeIn <= 60, `next keep-alive probe in ${probeIn} s`);
    } finally {
      conn.destroy();
    }
  });
});

describe('--bind unix:PATH', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let sock: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-it-unix-'));
    sock = path.join(dir, 'app.sock');
    server = await startServer({ address: ['--bind', `unix:${sock}`], args: ['--processes', '2', 'integration_apps:app'] });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('serves requests on the socket file', async () => {
    assert.ok(existsSync(sock));
    const conn = await Connection.open({ path: sock });
    try {
      for (let i = 0; i < 3; i++) {
        conn.send(requestHead('GET', '/hello'));
        const res = await conn.next();
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'Hello, world!');
      }
    } finally {
      conn.destroy();
    }
  });
});
