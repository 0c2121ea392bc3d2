/**
 * One server (2 children × 4 threads) serving test/fixtures/integration_apps.py
 * over real sockets: the HTTP/1.1 features the child must get right and the
 * WSGI response paths (iterables, write(), file_wrapper, errors).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Connection, exchange, parseResponses, requestHead, responsesComplete } from '../helpers/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('HTTP and WSGI basics', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let accessLog: string;
  const url = (p: string): string => `http://127.0.0.1:${server.port}${p}`;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-it-basics-'));
    accessLog = path.join(dir, 'access.log');
    server = await startServer({ args: ['--processes', '2', '--threads', '4', '-l', accessLog, 'integration_apps:app'] });
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('hello world', async () => {
    const res = await fetch(url('/hello'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '13');
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(await res.text(), 'Hello, world!');
  });

  test('keep-alive: several requests on one connection', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      for (let i = 0; i < 5; i++) {
        conn.send(requestHead('GET', '/hello'));
        const res = await conn.next();
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'Hello, world!');
        assert.notEqual(res.headers.get('connection'), 'close');
      }
      assert.equal(conn.closed, false);
    } finally {
      conn.destroy();
    }
  });

  test('pipelining: two requests written at once get two responses in order', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      // The first is slower, so answering out of order would show.
      conn.send(requestHead('GET', '/slow?seconds=0.3') + requestHead('GET', '/hello'));
      const first = await conn.next();
      const second = await conn.next();
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), 'slept');
      assert.equal(second.status, 200);
      assert.equal(second.body.toString(), 'Hello, world!');
    } finally {
      conn.destroy();
    }
  });

  test('chunked request body is read to its end with wsgi.input_terminated', async () => {
    const pieces = ['hello ', 'chunked ', 'x'.repeat(70_000), ' world'];
    const body = pieces.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('POST', '/echo', [['Transfer-Encoding', 'chunked'], ['Content-Type', 'text/plain']]) + body);
      const res = await conn.next();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-input-terminated'), '1');
      assert.equal(res.body.toString(), pieces.join(''));
    } finally {
      conn.destroy();
    }
  });

  test('Expect: 100-continue gets 100 before the body is sent', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('POST', '/echo', [['Content-Length', '11'], ['Expect', '100-continue']]));
      const interim = await conn.next();
      assert.equal(interim.status, 100);
      conn.send('hello there');
      const res = await conn.next();
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'hello there');
    } finally {
      conn.destroy();
    }
  });

  test('HEAD: headers of the GET, no body', async () => {
    const { received, closed } = await exchange({ port: server.port }, requestHead('HEAD', '/hello', [['Connection', 'close']]));
    assert.ok(closed);
    const text = received.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\r\ncontent-length: 13\r\n/i);
    assert.ok(text.endsWith('\r\n\r\n'), `bytes after the head: ${JSON.stringify(text)}`);
  });

  test('POST echo of 64 KB', async () => {
    const body = randomBytes(64 * 1024);
    const res = await fetch(url('/echo'), { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-input-terminated'), '1');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
  });

  test('write() callable output comes before the returned iterable', async () => {
    const res = await fetch(url('/write'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'first-second-th');
  });

  test('wsgi.file_wrapper serves a 5 MB file exactly', async () => {
    const file = path.join(dir, 'five-megabytes.bin');
    const content = randomBytes(5 * 1024 * 1024);
    writeFileSync(file, content);
    const res = await fetch(url(`/file?path=${encodeURIComponent(file)}`));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(content.length));
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(got.length, content.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(content).digest('hex'));
  });

  test('an app exception is a 500 without the traceback; the traceback goes to stderr', async () => {
    const res = await fetch(url('/error'));
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.doesNotMatch(body, /Traceback|fixture-boom|RuntimeError/);
    await server.waitForStderr(/Traceback[\s\S]*RuntimeError: fixture-boom/);
    // The worker that raised keeps serving.
    assert.equal((await fetch(url('/hello'))).status, 200);
  });

  test('client disconnect mid-response calls the iterable close()', async () => {
    const marker = path.join(dir, 'closed-marker');
    const conn = await Connection.open({ port: server.port });
    conn.send(requestHead('GET', `/close-marker?path=${encodeURIComponent(marker)}`));
    await waitFor(() => conn.received.length > 100_000, 'some of the endless body');
    assert.equal(existsSync(marker), false);
    conn.destroy();
    await waitFor(() => existsSync(marker), 'close() to write the marker file', 10_000);
    assert.equal(readFileSync(marker, 'utf8'), 'closed');
  });

  test('malformed request line is a 400', async () => {
    const { received } = await exchange({ port: server.port }, 'THIS IS NOT HTTP\r\n\r\n', responsesComplete(1));
    assert.equal(parseResponses(received)[0]!.status, 400);
  });

  test('oversized request headers are a 431', async () => {
    const head = requestHead('GET', '/hello', [['X-Big', 'a'.repeat(32 * 1024)]]);
    const { received } = await exchange({ port: server.port }, head, responsesComplete(1));
    assert.equal(parseResponses(received)[0]!.status, 431);
  });

  test('access log: combined format plus duration, one line per request', async () => {
    const res = await fetch(url('/hello?from=log'), { headers: { 'user-agent': 'it-agent/1.0', referer: 'http://ref.example/' } });
    assert.equal(res.status, 200);
    await res.text();
    const line = await waitFor(
      () => readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes('/hello?from=log')),
      'the access log line',
    );
    assert.match(
      line,
      /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/hello\?from=log HTTP\/1\.1" 200 13 "http:\/\/ref\.example\/" "it-agent\/1\.0" \d+\.\d{6}$/,
    );
  });
});
