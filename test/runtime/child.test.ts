/**
 * A real child process (dist/src/runtime/child.js) with its real Python worker,
 * started the way the controller starts it (test/helpers/child.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChildConfig, FromChild } from '../../protocol/control-messages.js';
import { startChild as startRealChild, type RunningChild } from '../helpers/child.js';
import { Connection, exchange, parseResponses, responsesComplete } from '../helpers/http.js';
import { FIXTURES_DIR } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait.js';

const TMP = mkdtempSync(path.join(os.tmpdir(), 'spawning-child-test-'));
const MAX_BODY = 4 * 1024 * 1024;
/** A hang is a failure with a name, not a stuck run. */
const EACH = { timeout: 20_000 };

const startChild = (overrides: Partial<ChildConfig> = {}, spawnOptions: { ipc?: boolean } = {}): Promise<RunningChild> =>
  startRealChild(TMP, { maxBodySize: MAX_BODY }, overrides, spawnOptions);

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, opts: http.RequestOptions & { body?: Buffer | string | Buffer[] } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = opts.body;
    if (Array.isArray(body)) for (const piece of body) req.write(piece);
    else if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('child process (real worker)', () => {
  let child: RunningChild;

  before(async () => {
    child = await startChild();
    await child.message('ready');
  });
  after(async () => {
    await child.stop();
  });

  it('reports ready with its pid, its worker pid and the worker info', EACH, async () => {
    const ready = await child.message('ready');
    assert.equal(ready.pid, child.proc.pid);
    assert.ok(ready.workerPid > 0 && ready.workerPid !== ready.pid);
    assert.equal(ready.info.pid, ready.workerPid);
    assert.equal(ready.info.threads, 4);
  });

  it("keeps the controller's listen backlog when it starts accepting (Node would reset it to 511)", EACH, () => {
    // ss prints a listening socket's backlog in its Send-Q column.
    const line = execFileSync('ss', ['-ltnH', `sport = :${child.port}`], { encoding: 'utf8' }).trim();
    assert.equal(line.split(/\s+/)[2], '128', line);
  });

  it('serves a request and keeps the connection alive for pipelined ones', EACH, async () => {
    const conn = await Connection.open({ port: child.port });
    conn.send('GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    const a = await conn.next();
    const b = await conn.next();
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), 'Hello, world!');
    assert.equal(b.body.toString(), 'Hello, world!');
    assert.equal(conn.closed, false);
    conn.socket.destroy();

    const head = await Connection.open({ port: child.port });
    head.send('HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    const c = await head.next({ head: true });
    const d = await head.next({ head: true });
    assert.equal(c.status, 200);
    assert.equal(c.headers.get('content-length'), '13');
    assert.equal(d.status, 200);
    // No body bytes after the two heads: HEAD got none.
    assert.ok(head.received.toString('latin1').endsWith('\r\n\r\n'));
    head.socket.destroy();
  });

  it('builds the environ: decoded PATH_INFO, raw query, dropped underscore headers, joined duplicates', EACH, async () => {
    const conn = await Connection.open({ port: child.port });
    conn.send(
      'GET /environ/caf%C3%A9%2Fx%zz?a=1&b=%20 HTTP/1.1\r\nHost: example\r\nX-Dup: 1\r\nX-Dup: 2\r\n' +
        'Cookie: a=1\r\nCookie: b=2\r\nX_Forwarded_For: spoof\r\nContent-Type: text/plain\r\n\r\n',
    );
    const env = JSON.parse((await conn.next()).body.toString()) as Record<string, string>;
    conn.socket.destroy();
    assert.equal(env.PATH_INFO, '/environ/caf\u00c3\u00a9/x%zz');
    assert.equal(env.RAW_URI, '/environ/caf%C3%A9%2Fx%zz?a=1&b=%20');
    assert.equal(env.QUERY_STRING, 'a=1&b=%20');
    assert.equal(env.SCRIPT_NAME, '');
    assert.equal(env.SERVER_NAME, '127.0.0.1');
    assert.equal(env.SERVER_PORT, String(child.port));
    assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(env.REMOTE_ADDR, '127.0.0.1');
    assert.equal(env.HTTP_X_DUP, '1,2');
    assert.equal(env.HTTP_COOKIE, 'a=1; b=2');
    assert.equal(env.CONTENT_TYPE, 'text/plain');
    assert.equal(env.CONTENT_LENGTH, undefined);
    assert.equal(env.HTTP_X_FORWARDED_FOR, undefined);
  });

  it('streams a chunked 3 MB upload through the worker under flow control and echoes it', EACH, async () => {
    const pieces = Array.from({ length: 48 }, (_, i) => Buffer.alloc(65536, 65 + (i % 26)));
    const reply = await request(child.port, { method: 'POST', path: '/echo', body: pieces, headers: { 'Transfer-Encoding': 'chunked' } });
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(Buffer.concat(pieces)), 'echoed body differs');
  });

  it('delivers a body that arrived whole while paused for credit (the parser finished before the app read)', EACH, async () => {
    const body = Buffer.alloc(300 * 1024, 7);
    const reply = await request(child.port, { method: 'POST', path: '/echo?delay=0.3', body, headers: { 'Content-Length': String(body.length) } });
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(body));
  });

  it('streams a 4 MB response larger than the credit window', EACH, async () => {
    const reply = await request(child.port, { path: '/stream?n=256&size=16384' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.length, 256 * 16384);
    assert.equal(reply.body[16384 * 27], 98);
  });

  it('serves wsgi.file_wrapper from disk', EACH, async () => {
    const reply = await request(child.port, { path: '/file' });
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(readFileSync(path.join(FIXTURES_DIR, 'child_apps.py'))));
  });

  it('answers 100 Continue to an acceptable body and 413 without 100 to an oversized one', EACH, async () => {
    const ok = await exchange(
      { port: child.port },
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      (r) => r.includes('100 Continue'),
    );
    assert.match(ok.received.toString(), /^HTTP\/1\.1 100 Continue/);

    const conn = await Connection.open({ port: child.port });
    conn.send('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    assert.equal((await conn.next()).status, 100);
    conn.send('hello');
    const echoed = await conn.next();
    assert.equal(echoed.body.toString(), 'hello');
    conn.socket.destroy();

    const big = await exchange(
      { port: child.port },
      `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY + 1}\r\nExpect: 100-continue\r\n\r\n`,
      responsesComplete(1),
    );
    const [first] = parseResponses(big.received);
    assert.equal(first!.status, 413);
    assert.doesNotMatch(big.received.toString(), /100 Continue/);
  });

  it('answers 413 to a chunked body that grows past the limit', EACH, async () => {
    const conn = await Connection.open({ port: child.port });
    conn.send('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    const piece = Buffer.alloc(1024 * 1024, 120);
    for (let i = 0; i < 5 && !conn.closed; i++) {
      conn.send(`${piece.length.toString(16)}\r\n`);
      conn.send(piece);
      conn.send('\r\n');
    }
    const reply = await conn.next();
    assert.equal(reply.status, 413);
    await conn.waitClosed();
  });

  it('answers malformed HTTP with 400 and oversized headers with 431, closing the connection', EACH, async () => {
    const bad = await exchange({ port: child.port }, 'GARBAGE\r\n\r\n');
    assert.match(bad.received.toString(), /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close/);
    assert.ok(bad.closed);
    const huge = await exchange({ port: child.port }, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
    assert.match(huge.received.toString(), /^HTTP\/1\.1 431 /);
    await waitFor(() => /400 for 127\.0\.0\.1/.test(child.stderr()), 'a one-line log of the 400');
  });

  it('turns a header Node refuses to send into a 500 and keeps serving', EACH, async () => {
    const reply = await request(child.port, { path: '/bad-header' });
    assert.equal(reply.status, 500);
    assert.equal((await request(child.port, { path: '/hello' })).status, 200);
  });

  it('aborts a request whose client went away and keeps serving', EACH, async () => {
    const lastStats = (): Extract<FromChild, { t: 'stats' }> | undefined =>
      child.messages.filter((m): m is Extract<FromChild, { t: 'stats' }> => m.t === 'stats').at(-1);
    await waitFor(() => (lastStats()?.inflight === 0 ? true : undefined), 'an idle child');
    const served = lastStats()!.requests;
    const conn = await Connection.open({ port: child.port });
    // 128 MB: far more than the credit window, so the worker is held mid-response when the client leaves.
    conn.send('GET /stream?n=2000&size=65536 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => conn.received.length > 0, 'first bytes of the stream');
    conn.socket.destroy();
    // The id is freed (and counted) only once the worker sent its terminal frame after ABORT.
    await waitFor(() => {
      const s = lastStats();
      return s && s.requests > served && s.inflight === 0 ? true : undefined;
    }, 'the aborted request to end');
    assert.equal((await request(child.port, { path: '/hello' })).status, 200);
  });

  it('sends stats with counters and the RSS of child plus worker', EACH, async () => {
    const before = (await child.message('stats')).requests;
    await request(child.port, { path: '/hello' });
    const stats = await waitFor(() => {
      const last = child.messages.filter((m) => m.t === 'stats').at(-1);
      return last && last.t === 'stats' && last.requests > before ? last : undefined;
    }, 'stats counting the request');
    const ready = await child.message('ready');
    assert.equal(stats.workerPid, ready.workerPid);
    assert.ok(stats.rss > 20 * 1024 * 1024, `rss ${stats.rss} looks too small for node + python`);
  });

  it('writes the access log in combined format with the duration', EACH, async () => {
    await request(child.port, { path: '/hello?x=1', headers: { 'User-Agent': 'child-test/1.0', Referer: 'http://ref/' } });
    const line = await waitFor(
      () => readFileSync(child.accessLog, 'utf8').split('\n').find((l) => l.includes('/hello?x=1')),
      'the access-log line',
    );
    assert.match(
      line,
      /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/hello\?x=1 HTTP\/1\.1" 200 13 "http:\/\/ref\/" "child-test\/1\.0" \d+\.\d{6}$/,
    );
  });
});

describe('child process lifecycle', () => {
  const running: RunningChild[] = [];
  const start = async (overrides: Partial<ChildConfig> = {}, spawnOptions: { ipc?: boolean } = {}): Promise<RunningChild> => {
    const c = await startChild(overrides, spawnOptions);
    running.push(c);
    return c;
  };
  after(async () => {
    await Promise.all(running.map((c) => c.stop()));
    rmSync(TMP, { recursive: true, force: true });
  });

  it('a dead worker fails only its in-flight requests with 502, is restarted, and queued requests are served', EACH, async () => {
    const child = await start();
    const first = await child.message('ready');
    const slow = request(child.port, { path: '/slow?s=0.3' });
    await waitFor(() => child.messages.some((m) => m.t === 'stats' && m.inflight > 0), 'the slow request in flight');
    const died = await request(child.port, { path: '/die' });
    assert.equal(died.status, 502);
    // The slow request was in flight on the same worker: it fails too.
    assert.equal((await slow).status, 502);
    const exit = await child.message('worker-exit');
    assert.equal(exit.pid, first.workerPid);
    assert.equal(exit.code, 1);
    assert.equal(exit.inflight, 2);
    // Sent while the worker restarts: waits in the child and is served by the new worker.
    assert.equal((await request(child.port, { path: '/hello' })).status, 200);
    const second = await child.message('ready', 2);
    assert.notEqual(second.workerPid, first.workerPid);
  });

  it('counts queue waits, 503s and 504s in its stats', EACH, async () => {
    // One thread, room for one waiter; each slow request holds the thread for 1 s, so a loaded machine
    // still sees one queued for a while. The 2 s timeout counts from dispatch, not from arrival.
    const child = await start({ threads: 1, maxQueue: 1, timeout: 2 });
    await child.message('ready');
    type Stats = Extract<FromChild, { t: 'stats' }>;
    const stats = (): Stats[] => child.messages.filter((m): m is Stats => m.t === 'stats');
    const replies = [request(child.port, { path: '/slow?s=1' }), request(child.port, { path: '/slow?s=1' })];
    await waitFor(() => stats().some((m) => m.queued === 1), 'a stats message with one request queued');
    const shed = await request(child.port, { path: '/slow?s=1' });
    assert.deepEqual([shed.status, shed.headers['retry-after']], [503, '1']);
    assert.deepEqual((await Promise.all(replies)).map((r) => r.status), [200, 200]);
    assert.equal((await request(child.port, { path: '/slow?s=5' })).status, 504);
    const last = await waitFor(() => stats().find((m) => m.timedOut === 1), 'stats counting the 504');
    assert.deepEqual([last.shed, last.queueWaited, last.queued], [1, 1, 0]);
    assert.ok(last.queueWaitMs >= 700, `waited ${last.queueWaitMs} ms in the queue`);
    assert.ok(Math.max(...stats().map((m) => m.queueMaxWaitMs)) >= 700);
  });

  it('a load error is relayed to the controller and the child exits 3 without listening', EACH, async () => {
    const child = await start({ args: ['child_apps.no_such_app'] });
    const { error } = await child.message('load-error');
    assert.match(error.message, /no_such_app/);
    assert.equal(await child.exit, 3);
    assert.equal(child.messages.some((m) => m.t === 'ready'), false);
  });

  it('drain finishes in-flight requests with Connection: close, then exits 0', EACH, async () => {
    const child = await start();
    await child.message('ready');
    const slow = request(child.port, { path: '/slow?s=0.5', agent: new http.Agent({ keepAlive: true }) });
    await waitFor(() => child.messages.some((m) => m.t === 'stats' && m.inflight > 0), 'the slow request in flight');
    child.control.send({ t: 'drain' });
    const draining = await child.message('draining');
    assert.equal(draining.inflight, 1);
    const reply = await slow;
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.connection, 'close');
    assert.equal(await child.exit, 0);
  });

  it('draining and idle, a child on the IPC channel exits only after its last call: a connection sent before the answer is served', EACH, async () => {
    // The controller may have sent connections over IPC just before DRAIN went over the control channel,
    // which can overtake them: the answer to the last call comes behind them on their own channel.
    const child = await start({}, { ipc: true });
    await child.message('ready');
    const calls: string[] = [];
    child.proc.on('message', (m: { t: string }) => calls.push(m.t));
    child.control.send({ t: 'drain' });
    await waitFor(() => calls.includes('last-call'), "the child's last call");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(child.proc.exitCode, null, 'exited before its last call was answered');
    // As the controller does: the connection that was on its way, then the answer behind it.
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const sent = new Promise<void>((resolve) =>
      server.once('connection', (socket) => {
        child.proc.send({ t: 'connection' }, socket);
        child.proc.send({ t: 'last-call' });
        resolve();
      }),
    );
    try {
      const port = (server.address() as net.AddressInfo).port;
      const { received } = await exchange({ port }, 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n', responsesComplete(1));
      await sent;
      const [reply] = parseResponses(received);
      assert.equal(reply!.status, 200);
      assert.equal(reply!.headers.get('connection'), 'close');
      assert.equal(await child.exit, 0);
    } finally {
      server.close();
    }
  });

  it('a drain sent along with start, while --inspect is still being loaded, is not lost: the child exits 0', EACH, async () => {
    // Nothing listens on the inspector's port: the child retries quietly; what matters is the import it awaits first.
    const child = await start({ inspect: 'ws://127.0.0.1:9' });
    child.control.send({ t: 'drain' });
    assert.equal(await child.exit, 0);
    assert.equal(child.messages.some((m) => m.t === 'ready'), false, 'drained before its worker was ready');
  });

  it('SIGINT is ignored; SIGTERM drains', EACH, async () => {
    const child = await start();
    await child.message('ready');
    child.proc.kill('SIGINT');
    assert.equal((await request(child.port, { path: '/hello' })).status, 200);
    child.proc.kill('SIGTERM');
    assert.equal(await child.exit, 0);
  });

  it('control-channel EOF (the controller died) drains and exits 0, and the worker exits too', EACH, async () => {
    const child = await start();
    const ready = await child.message('ready');
    child.control.close();
    assert.equal(await child.exit, 0);
    await waitFor(() => {
      try {
        process.kill(ready.workerPid, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 'the worker to exit');
  });

  it('with keepalive off every response closes its connection', EACH, async () => {
    const child = await start({ keepalive: false });
    await child.message('ready');
    const conn = await Connection.open({ port: child.port });
    conn.send('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    const reply = await conn.next();
    assert.equal(reply.headers.get('connection'), 'close');
    await conn.waitClosed();
  });
});
