/**
 * The lean HTTP/1.1 front (src/http/h1/) over real sockets, with handlers in
 * this process instead of a Python worker: the HTTP/1.1 behaviour the relay
 * relies on, byte for byte where the bytes matter.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { connect as netConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Front, FrontHandler, FrontPeer, FrontRequest, FrontResponse } from '../../src/http/front.js';
import { createH1Server } from '../../src/http/h1/h1-server.js';
import type { FrontOptions } from '../../src/http/http-front.js';
import { Connection, exchange, parseResponses, responsesComplete } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

interface Running {
  port: number;
  front: Front;
  server: net.Server;
  opened: FrontPeer[];
  closed: FrontPeer[];
}

const running: Running[] = [];
after(() => {
  for (const r of running) {
    r.front.closeAll();
    r.server.close();
  }
});

async function serve(handler: FrontHandler, options: Partial<FrontOptions> & { checkContinue?: FrontHandler } = {}): Promise<Running> {
  const opened: FrontPeer[] = [];
  const closed: FrontPeer[] = [];
  const opts: FrontOptions = {
    backlog: 128,
    maxHeaderSize: 8192,
    headersTimeoutMs: 10_000,
    keepaliveTimeoutMs: 5000,
    tcpKeepAliveIdleMs: 60_000,
    opened: (peer) => opened.push(peer),
    closed: (peer) => closed.push(peer),
    ...options,
    proxyProtocol: options.proxyProtocol ?? null,
  };
  const { server, front } = createH1Server(opts, { request: handler, checkContinue: options.checkContinue ?? handler });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r = { port: (server.address() as net.AddressInfo).port, front, server, opened, closed };
  running.push(r);
  return r;
}

const text = (res: FrontResponse, body: string, status = 200, extra: string[] = []): void => {
  const bytes = Buffer.from(body);
  res.writeHead(status, status === 200 ? 'OK' : 'Status', ['Content-Type', 'text/plain', 'Content-Length', String(bytes.length), ...extra]);
  res.end(bytes);
};

const hello: FrontHandler = (_req, res) => text(res, 'hello');

/** The whole body of a request, through its data/end events. */
const readBody = (req: FrontRequest): Promise<Buffer> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

describe('lean HTTP/1.1 front', () => {
  it('keeps HTTP/1.1 connections alive and adds Date, Connection and Keep-Alive as node:http does', async () => {
    const { port } = await serve(hello);
    const conn = await Connection.open({ port });
    try {
      for (let i = 0; i < 3; i++) {
        conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        const res = await conn.next();
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'hello');
        assert.equal(res.headers.get('connection'), 'keep-alive');
        assert.equal(res.headers.get('keep-alive'), 'timeout=5');
        assert.ok(Math.abs(Date.parse(res.headers.get('date')!) - Date.now()) < 5000, res.headers.get('date'));
      }
      assert.equal(conn.closed, false);
    } finally {
      conn.destroy();
    }
  });

  it('HTTP/1.0: closes by default, keeps alive on request with a length, delimits an unknown length by closing', async () => {
    const { port } = await serve((req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, 'OK', []);
        res.write(Buffer.from('part1-'));
        res.end(Buffer.from('part2'));
      } else text(res, 'hello');
    });
    const plain = await exchange({ port }, 'GET / HTTP/1.0\r\n\r\n');
    assert.ok(plain.closed);
    assert.match(plain.received.toString(), /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n/);

    const conn = await Connection.open({ port });
    conn.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const kept = await conn.next();
    assert.equal(kept.headers.get('connection'), 'keep-alive');
    conn.send('GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await conn.waitClosed();
    const text10 = conn.received.toString('latin1');
    const second = text10.slice(text10.indexOf('HTTP/1.1', 10));
    assert.doesNotMatch(second, /transfer-encoding/i);
    assert.match(second, /Connection: close\r\n\r\npart1-part2$/);
  });

  it('chunks an HTTP/1.1 body of unknown length, and a write callback runs once its bytes are out', async () => {
    let called = 0;
    const { port } = await serve((_req, res) => {
      res.writeHead(200, 'OK', ['Content-Type', 'text/plain']);
      res.write(Buffer.from('hello '), () => called++);
      res.write(Buffer.alloc(20_000, 120), () => called++);
      res.end(Buffer.from(' world'));
    });
    const { received } = await exchange({ port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', responsesComplete(1));
    const [res] = parseResponses(received);
    assert.equal(res!.headers.get('transfer-encoding'), 'chunked');
    assert.equal(res!.body.toString(), `hello ${'x'.repeat(20_000)} world`);
    await waitFor(() => (called === 2 ? true : undefined), 'both write callbacks');
  });

  it('HEAD: the head of the GET and no body, also for pipelined HEADs', async () => {
    const { port } = await serve((_req, res) => {
      res.writeHead(200, 'OK', ['Content-Length', '5']);
      res.write(Buffer.from('hello'));
      res.end();
    });
    const conn = await Connection.open({ port });
    try {
      conn.send('HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await conn.next({ head: true })).headers.get('content-length'), '5');
      assert.equal((await conn.next({ head: true })).status, 200);
      await sleep(50);
      assert.ok(conn.received.toString('latin1').endsWith('\r\n\r\n'));
      assert.equal(conn.received.toString('latin1').match(/HTTP\/1\.1/g)!.length, 2);
    } finally {
      conn.destroy();
    }
  });

  it('pipelining: responses go out in request order whatever order they are answered in', async () => {
    const { port } = await serve((req, res) => {
      const delay = Number(new URL(req.url!, 'http://x').searchParams.get('ms'));
      setTimeout(() => text(res, req.url!), delay);
    });
    const conn = await Connection.open({ port });
    try {
      conn.send(['/a?ms=150', '/b?ms=0', '/c?ms=60'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      const bodies = [];
      for (let i = 0; i < 3; i++) bodies.push((await conn.next()).body.toString());
      assert.deepEqual(bodies, ['/a?ms=150', '/b?ms=0', '/c?ms=60']);
    } finally {
      conn.destroy();
    }
  });

  it('Connection: close is answered with close, the connection ends, and requests after it are not taken', async () => {
    const seen: string[] = [];
    const { port } = await serve((req, res) => {
      seen.push(req.url!);
      text(res, 'bye');
    });
    const { received, closed } = await exchange({ port }, 'GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(closed);
    const responses = parseResponses(received);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.headers.get('connection'), 'close');
    assert.deepEqual(seen, ['/1']);
  });

  it('Connection: close: closes at once when the client sent nothing more, and lingers, reading, when it did', async () => {
    const { port, closed } = await serve(hello);
    // The client keeps its side open after the server's FIN, as a slow or careless one does.
    const halfOpen = async (bytes: string): Promise<net.Socket> => {
      const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('data', () => {});
      // A reset from the server shows as `destroyed` below, not as an unhandled error.
      socket.on('error', () => {});
      const ended = new Promise((resolve) => socket.once('end', resolve));
      socket.write(bytes);
      await ended;
      return socket;
    };
    const quiet = await halfOpen('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    // Gone from the server well before LINGER_MS (5 s), though the client has not closed.
    await waitFor(() => closed.length === 1, 'the server to close the quiet connection', 2000, 10);
    quiet.destroy();
    // Bytes after the request that closes: the client may still be sending, so the server reads on until it closes its side.
    const sending = await halfOpen('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /more HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(300);
    assert.equal(closed.length, 1, 'closed while the client might still be sending');
    sending.write('more bytes, discarded');
    await sleep(100);
    assert.equal(sending.destroyed, false, 'the server reset the connection instead of reading on');
    sending.end();
    await waitFor(() => closed.length === 2, 'the server to close once the client closed its side', 2000, 10);
  });

  it('a response the handler closes (drain, connection balance) ends the connection after it', async () => {
    const { port } = await serve((_req, res) => {
      res.shouldKeepAlive = false;
      text(res, 'shed');
    });
    const { received, closed } = await exchange({ port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(closed);
    assert.equal(parseResponses(received)[0]!.headers.get('connection'), 'close');
  });

  it('delivers a chunked request body through pause and resume, and end after the last chunk', async () => {
    const { port } = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => {
        chunks.push(c);
        req.pause();
        setTimeout(() => req.resume(), 5);
      });
      req.on('end', () => text(res, `${Buffer.concat(chunks).length} ${req.readableEnded}`));
    });
    const pieces = Array.from({ length: 40 }, (_, i) => 'x'.repeat(1000 + i));
    const body = pieces.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
    const { received } = await exchange({ port }, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, responsesComplete(1));
    assert.equal(parseResponses(received)[0]!.body.toString(), `${pieces.join('').length} true`);
  });

  it('a body no one reads is discarded and the next request on the connection is served', async () => {
    const { port } = await serve((req, res) => {
      text(res, req.url!);
      req.resume();
    });
    const conn = await Connection.open({ port });
    try {
      conn.send(`POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'y'.repeat(100_000)}GET /second HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal((await conn.next()).body.toString(), '/first');
      assert.equal((await conn.next()).body.toString(), '/second');
    } finally {
      conn.destroy();
    }
  });

  it('Expect: 100-continue goes to checkContinue, which says continue; an unknown expectation is 417', async () => {
    const { port } = await serve(hello, {
      checkContinue: (req, res) => {
        res.writeContinue();
        void readBody(req).then((body) => text(res, `got ${body}`));
      },
    });
    const conn = await Connection.open({ port });
    try {
      conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      assert.equal((await conn.next()).status, 100);
      conn.send('hello');
      assert.equal((await conn.next()).body.toString(), 'got hello');
      conn.send('GET / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n');
      assert.equal((await conn.next()).status, 417);
    } finally {
      conn.destroy();
    }
  });

  it('answers malformed requests 400, too-large heads 431 and HTTP/1.1 without Host 400, closing the connection', async () => {
    const { port } = await serve(hello, { maxHeaderSize: 1024 });
    for (const [raw, status] of [
      ['GARBAGE\r\n\r\n', 400],
      [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`, 431],
      ['GET / HTTP/1.1\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
      ['CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n', 400],
    ] as const) {
      const { received, closed } = await exchange({ port }, raw);
      assert.ok(closed, raw);
      const [res] = parseResponses(received);
      assert.equal(res?.status, status, `${JSON.stringify(raw)}: ${received.toString('latin1')}`);
      assert.equal(res.headers.get('connection'), 'close');
    }
  });

  it('a parse error after a request whose answer is still owed: that answer goes out, then the connection closes', async () => {
    const { port } = await serve((_req, res) => {
      // Answered after the bad bytes were read: the parse error must not take its place.
      setTimeout(() => {
        res.writeHead(200, 'OK', ['Content-Length', '2']);
        res.end(Buffer.from('ok'));
      }, 100);
    });
    const { received, closed } = await exchange({ port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n');
    assert.ok(closed);
    assert.deepEqual(parseResponses(received).map((r) => r.status), [200]);
  });

  it('--headers-timeout: a head not complete in time is answered 408 and closed', async () => {
    const { port } = await serve(hello, { headersTimeoutMs: 300 });
    const started = Date.now();
    const { received, closed } = await exchange({ port }, 'GET / HTTP/1.1\r\nHost: x\r\n');
    assert.ok(closed);
    assert.equal(parseResponses(received)[0]!.status, 408);
    assert.ok(Date.now() - started >= 250, `closed after ${Date.now() - started} ms`);
  });

  it('--keepalive-timeout: an idle connection closes a second after the advertised timeout', async () => {
    const { port } = await serve(hello, { keepaliveTimeoutMs: 1000 });
    const conn = await Connection.open({ port });
    conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await conn.next();
    assert.equal(res.headers.get('keep-alive'), 'timeout=1');
    const idleFrom = Date.now();
    await conn.waitClosed(5000);
    const idle = Date.now() - idleFrom;
    assert.ok(idle >= 1500 && idle < 3500, `closed after ${idle} ms idle`);
  });

  it('refuses a response head node would refuse, without writing it, and a 500 can follow', async () => {
    let error: Error | undefined;
    const { port } = await serve((_req, res) => {
      try {
        res.writeHead(200, 'OK', ['X-Bad', 'line\r\nbreak']);
      } catch (err) {
        error = err as Error;
        assert.equal(res.headersSent, false);
        text(res, 'oops', 500);
      }
    });
    const { received } = await exchange({ port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', responsesComplete(1));
    assert.equal(parseResponses(received)[0]!.status, 500);
    assert.match(error!.message, /Invalid character in header content \["X-Bad"\]/);
  });

  it('a client that leaves mid-response: close comes before the response finished', async () => {
    let finishedAtClose: { finished: boolean } | undefined;
    const { port } = await serve((_req, res) => {
      res.on('close', () => (finishedAtClose = { finished: res.writableFinished }));
      res.writeHead(200, 'OK', []);
      res.write(Buffer.from('first'));
    });
    const conn = await Connection.open({ port });
    conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => (conn.received.includes('first') ? true : undefined), 'the first chunk');
    conn.destroy();
    assert.deepEqual(await waitFor(() => finishedAtClose, 'close'), { finished: false });
  });

  it('backpressure: a client that does not read makes write() report it and stops the requests read behind it', async () => {
    const PIECES = 1024;
    let drained = false;
    const seen: string[] = [];
    let first: FrontResponse | undefined;
    const { port } = await serve((req, res) => {
      seen.push(req.url!);
      if (req.url !== '/big') return text(res, 'small');
      first = res;
      res.writeHead(200, 'OK', []);
      const piece = Buffer.alloc(64 * 1024, 97);
      let writes = 0;
      // 64 MB: more than loopback's socket buffers can take in (send up to tcp_wmem's 4 MB, receive
      // autotuned up to tcp_rmem's 32 MB here), so the front must see backpressure however they grow.
      const pump = (): void => {
        while (writes < PIECES) {
          writes++;
          if (!res.write(piece)) {
            res.once('drain', () => {
              drained = true;
              pump();
            });
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const conn = await Connection.open({ port });
    try {
      conn.socket.pause();
      conn.send('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => (first ? true : undefined), 'the big response to start');
      await sleep(200);
      conn.send('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      await sleep(200);
      assert.deepEqual(seen, ['/big'], 'the request behind a backed-up response was read');
      conn.socket.resume();
      const big = await conn.next({ timeoutMs: 20_000 });
      assert.equal(big.body.length, PIECES * 64 * 1024);
      assert.equal((await conn.next()).body.toString(), 'small');
      assert.ok(drained);
      assert.deepEqual(seen, ['/big', '/after']);
    } finally {
      conn.destroy();
    }
  });

  it('a middling body (4-16 KB) that must wait is copied, so it does not keep alive the buffer it was cut from', async () => {
    // The relay's bodies are views of the worker channel's reads (up to 64 KB): one a slow client keeps waiting
    // must not pin its whole read. Seen through a FinalizationRegistry on the view's buffer, with a forced GC.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const freed = new Set<string>();
    const registry = new FinalizationRegistry<string>((name) => freed.add(name));
    const view = (name: string): Uint8Array => {
      const read = new ArrayBuffer(64 * 1024);
      new Uint8Array(read).fill(name.charCodeAt(0));
      registry.register(read, name);
      return new Uint8Array(read, 0, 10 * 1024);
    };
    const piece = Buffer.alloc(64 * 1024, 46);
    const { port } = await serve((req, res) => {
      res.writeHead(200, 'OK', ['Content-Type', 'text/plain']);
      if (req.url === '/pipelined') {
        res.end(view('p')); // behind /streamed, not its connection's active response yet
        return;
      }
      // 64 MB, more than loopback's socket buffers take in (see the backpressure test above), so the
      // socket still holds output when the last 10 KB are written behind it.
      for (let i = 0; i < 1024; i++) res.write(piece);
      res.end(view('s'));
    });
    const conn = await Connection.open({ port });
    try {
      conn.socket.pause();
      conn.send('GET /streamed HTTP/1.1\r\nHost: x\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(
        () => {
          gc();
          return freed.has('s') && freed.has('p');
        },
        'both 64 KB reads collected while their 10 KB views wait',
        5000,
        100,
      );
      conn.socket.resume();
      const streamed = await conn.next({ timeoutMs: 20_000 });
      assert.equal(streamed.body.length, 64 * 1024 * 1024 + 10 * 1024);
      assert.equal(streamed.body.subarray(-10 * 1024).toString(), 's'.repeat(10 * 1024));
      assert.equal((await conn.next()).body.toString(), 'p'.repeat(10 * 1024));
    } finally {
      conn.destroy();
    }
  });

  it('a client that closes its side before its answer has left: the owed response gets close', async () => {
    let finishedAtClose: { finished: boolean } | undefined;
    const { port } = await serve((_req, res) => res.on('close', () => (finishedAtClose = { finished: res.writableFinished })));
    const conn = await Connection.open({ port });
    conn.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.deepEqual(await waitFor(() => finishedAtClose, 'close'), { finished: false });
    await conn.waitClosed();
  });

  it('serves an Upgrade request as a plain request, and the request after it', async () => {
    const { port } = await serve((req, res) => text(res, req.url!));
    const conn = await Connection.open({ port });
    try {
      conn.send('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await conn.next()).body.toString(), '/ws');
      assert.equal((await conn.next()).body.toString(), '/next');
    } finally {
      conn.destroy();
    }
  });

  it('stopAccepting keeps idle connections (a request on one is served), closeAll ends them; the peer is reported both ways', async () => {
    const r = await serve(hello);
    const conn = await Connection.open({ port: r.port });
    conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await conn.next();
    r.front.stopAccepting();
    await assert.rejects(Connection.open({ port: r.port }).then((c) => c.next({ timeoutMs: 1000 })));
    conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await conn.next()).status, 200);
    assert.equal(r.opened.length, 1);
    assert.equal(r.opened[0]!.remoteAddress, '127.0.0.1');
    r.front.closeAll();
    await conn.waitClosed();
    await waitFor(() => (r.closed.length === 1 ? true : undefined), 'the close report');
    assert.equal(r.closed[0], r.opened[0]);
  });

  it('parses the request line and headers as node does: method, target, version, raw and joined headers', async () => {
    let seen: FrontRequest | undefined;
    const { port } = await serve((req, res) => {
      seen = req;
      text(res, 'ok');
    });
    await exchange(
      { port },
      'PATCH /p?q=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=1\r\nCookie: b=2\r\nUser-Agent: one\r\nUser-Agent: two\r\nSet-Cookie: s\r\n\r\n',
      responsesComplete(1),
    );
    assert.equal(seen!.method, 'PATCH');
    assert.equal(seen!.url, '/p?q=1');
    assert.equal(seen!.httpVersion, '1.1');
    assert.deepEqual(seen!.rawHeaders.slice(0, 4), ['Host', 'x', 'X-A', '1']);
    assert.deepEqual(seen!.headers, { host: 'x', 'x-a': '1, 2', cookie: 'a=1; b=2', 'user-agent': 'one', 'set-cookie': ['s'] });
  });
});
