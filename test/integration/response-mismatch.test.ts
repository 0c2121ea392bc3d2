/**
 * Responses that do not keep the promise of their own head (issue 17), each
 * against a real server and read byte for byte: the client must learn at
 * once that a body is incomplete (the connection closes), must never get
 * more than the Content-Length, must get what an app yielded before it
 * raised, and must get no body, and no framing the app made up, where HTTP
 * says there is none (test/fixtures/mismatch_apps.py).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Connection, exchange, requestHead } from '../helpers/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Far less than the keep-alive timeout (5 s): a connection still open after this waits for bytes that never come. */
const PROMPT_MS = 2000;

describe('responses that do not match their head', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let accessLog: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-mismatch-'));
    accessLog = path.join(dir, 'access.log');
    server = await startServer({ args: ['--processes', '1', '--threads', '4', '-l', accessLog, 'mismatch_apps:app'] });
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends one keep-alive request and reads until the server closes (or PROMPT_MS passes: then `closed` is false). */
  const raw = async (method: string, target: string): Promise<{ text: string; closed: boolean }> => {
    const { received, closed } = await exchange({ port: server.port }, requestHead(method, target), () => false, PROMPT_MS).catch((err: Error) => ({
      received: Buffer.from(/got: (.*)$/.exec(err.message)?.[1] ?? '""'),
      closed: false,
    }));
    return { text: received.toString('latin1'), closed };
  };

  for (const target of ['/short', '/short-stream']) {
    test(`a body shorter than its Content-Length closes the connection at once (${target})`, async () => {
      const { text, closed } = await raw('GET', target);
      assert.ok(closed, `the connection stayed open, the client waits for 95 more bytes: ${JSON.stringify(text)}`);
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nContent-Length: 100\r\n/);
      assert.ok(text.endsWith('\r\n\r\nhello'), JSON.stringify(text));
    });
  }

  test('a body longer than its Content-Length is cut there, and the access log counts the bytes sent', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', '/long?log=cut'));
      const res = await conn.next();
      assert.equal(res.body.toString(), '01');
      // Nothing past the promised length, and the connection still serves the next request.
      conn.send(requestHead('GET', '/body'));
      const next = await conn.next();
      assert.equal(next.status, 200);
      assert.equal(next.body.toString(), 'hello');
      assert.equal(conn.received.toString('latin1').split('HTTP/1.1 ').length - 1, 2);
    } finally {
      conn.destroy();
    }
    const line = await waitFor(() => readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes('/long?log=cut')), 'the access log line');
    assert.match(line, /" 200 2 /, line);
  });

  for (const [target, expected] of [
    ['/raise', /\r\nTransfer-Encoding: chunked\r\n\r\n8\r\npartial \r\n4\r\nbody\r\n$/],
    ['/raise-with-length', /\r\nContent-Length: 12\r\n(?:[^\r]*\r\n)*\r\npartial $/],
  ] as const) {
    test(`an app that yields, then raises: what it yielded arrives, then the connection closes (${target})`, async () => {
      // The flush used to race the close: some tries got nothing at all.
      for (let i = 0; i < 15; i++) {
        const { text, closed } = await raw('GET', target);
        assert.ok(closed, `try ${i}: the connection stayed open: ${JSON.stringify(text)}`);
        assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, `try ${i}: ${JSON.stringify(text)}`);
        assert.match(text, expected, `try ${i}: ${JSON.stringify(text)}`);
      }
    });
  }

  test('an app that raises after 4 MB: all 4 MB arrive before the close', async () => {
    const { received, closed } = await exchange({ port: server.port }, requestHead('GET', '/raise-big'), () => false, 20_000);
    assert.ok(closed);
    const text = received.toString('latin1');
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    // Chunked: 64 chunks of 64 KiB with their framing, and no last chunk.
    assert.equal(body.length, 64 * (65536 + '10000\r\n\r\n'.length), `${body.length} bytes of body`);
    assert.ok(!body.endsWith('0\r\n\r\n'));
  });

  test('an app that yields, then raises, behind a pipelined slower request: both answers arrive, the second cut', async () => {
    const { received, closed } = await exchange({ port: server.port }, requestHead('GET', '/slow') + requestHead('GET', '/raise'), () => false, 10_000);
    assert.ok(closed);
    const [first, second] = received.toString('latin1').split(/(?=HTTP\/1\.1 )/);
    assert.ok(first?.endsWith('\r\n\r\nslow'), JSON.stringify(first));
    assert.match(second ?? '', /\r\n\r\n8\r\npartial \r\n4\r\nbody\r\n$/, JSON.stringify(second));
  });

  test('HEAD: the headers GET would send, no body, and the connection stays usable', async () => {
    const { received } = await exchange({ port: server.port }, requestHead('HEAD', '/body') + requestHead('GET', '/body'), (r) => r.toString('latin1').endsWith('hello'));
    const [head, get] = received.toString('latin1').split(/(?=HTTP\/1\.1 )/);
    assert.match(head!, /\r\nContent-Length: 5\r\n/);
    assert.ok(head!.endsWith('\r\n\r\n'), `the HEAD answer carried a body: ${JSON.stringify(head)}`);
    assert.ok(get!.endsWith('\r\n\r\nhello'), JSON.stringify(get));
  });

  test('204: no body and no Content-Length (RFC 9110 §8.6); 304: no body', async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', '/204'));
      const noContent = await conn.next();
      assert.equal(noContent.status, 204);
      assert.equal(noContent.headers.get('content-length'), undefined);
      assert.equal(noContent.headers.get('transfer-encoding'), undefined);
      conn.send(requestHead('GET', '/304'));
      const notModified = await conn.next();
      assert.equal(notModified.status, 304);
      conn.send(requestHead('GET', '/body'));
      assert.equal((await conn.next()).body.toString(), 'hello');
      // Nothing of the app's bodies went out: only the last "hello" is on the wire.
      assert.equal(conn.received.toString('latin1').split('hello').length - 1, 1);
    } finally {
      conn.destroy();
    }
  });

  test("the app's Transfer-Encoding is dropped, as gunicorn drops it: the front frames the body", async () => {
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', '/te-with-length'));
      const both = await conn.next();
      // Never both Content-Length and Transfer-Encoding (RFC 9112 §6.1).
      assert.equal(both.headers.get('transfer-encoding'), undefined);
      assert.equal(both.headers.get('content-length'), '5');
      assert.equal(both.body.toString(), 'hello');
      conn.send(requestHead('GET', '/te-gzip'));
      const gzip = await conn.next();
      assert.equal(gzip.headers.get('transfer-encoding'), 'chunked');
      assert.equal(gzip.body.toString(), 'not gzipped');
      assert.equal(conn.closed, false);
    } finally {
      conn.destroy();
    }
  });
});
