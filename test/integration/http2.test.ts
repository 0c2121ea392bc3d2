/**
 * HTTP/2 with real clients: curl (--http2 over TLS, --http2-prior-knowledge
 * for h2c), h2load, Python httpx, and node's http2 client for what the others
 * cannot show: bodies under flow control, the stream limit, a rapid-reset
 * flood, and GOAWAY on a graceful reload.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { makePki, type TestPki } from '../helpers/certs.js';
import { VENV_PYTHON } from '../helpers/repo.js';
import { killAllServers, startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
type Environ = Record<string, unknown>;
const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', ...args]);
  return stdout;
}

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on `session`; `body` is written in pieces, without a Content-Length. */
function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let got: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers: got, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (body !== undefined) {
      for (let i = 0; i < body.length; i += 100_000) req.write(body.subarray(i, i + 100_000));
      req.end();
    }
  });
}

function connect(url: string, ca?: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, ca === undefined ? {} : { ca, servername: 'localhost' });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

async function h2load(url: string, args: string[]): Promise<{ succeeded: number; failed: number; ok2xx: number; out: string }> {
  const { stdout } = await run('h2load', [...args, url], { timeout: 60_000 });
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(stdout);
  const codes = /status codes: (\d+) 2xx/.exec(stdout);
  assert.ok(m && codes, stdout);
  return { succeeded: Number(m[2]), failed: Number(m[3]), ok2xx: Number(codes[1]), out: stdout };
}

/**
 * Opens and at once cancels streams on `session`, `perTurn` between pauses,
 * until the session ends or `max` were sent; `goaway` settles with the first
 * GOAWAY's code (-1: closed without one).
 */
async function resetFlood(session: http2.ClientHttp2Session, perTurn: number, pause: () => Promise<unknown>, max: number): Promise<{ goaway: Promise<number>; sent: number }> {
  const goaway = new Promise<number>((resolve) => {
    session.on('goaway', (code: number) => resolve(code));
    session.on('close', () => resolve(-1));
  });
  session.on('error', () => {});
  let sent = 0;
  while (!session.closed && !session.destroyed && sent < max) {
    for (let i = 0; i < perTurn && !session.destroyed && !session.closed; i++) {
      try {
        const s = session.request({ ':path': '/slow?s=0.2' });
        s.on('error', () => {});
        s.close(NGHTTP2_CANCEL);
        sent++;
      } catch {
        break;
      }
    }
    await pause();
  }
  return { goaway, sent };
}

describe('HTTP/2', { timeout: 240_000 }, () => {
  let pki: TestPki;
  let ca: string;
  let tlsServer: RunningServer;
  let h2cServer: RunningServer;
  let tlsUrl: string;
  before(async () => {
    pki = makePki();
    ca = readFileSync(pki.ca, 'utf8');
    const cert = pki.server();
    [tlsServer, h2cServer] = await Promise.all([
      startServer({ args: ['--processes', '1', '--threads', '4', '--certfile', cert.cert, '--keyfile', cert.key, 'tls_apps.app'] }),
      startServer({ args: ['--processes', '1', '--threads', '4', '--h2c', 'tls_apps.app'] }),
    ]);
    tlsUrl = `https://localhost:${tlsServer.port}`;
  });
  after(async () => {
    await Promise.all([tlsServer?.stop(), h2cServer?.stop()]);
    killAllServers();
    pki?.remove();
  });

  test('curl --http2 over TLS (ALPN h2) and --http2-prior-knowledge over cleartext with --h2c; HTTP/1.1 beside both', async () => {
    const version = ['-o', '/dev/null', '-w', '%{http_version}'];
    assert.equal(await curl(['--cacert', pki.ca, '--http2', ...version, `${tlsUrl}/`]), '2');
    assert.equal(await curl(['--cacert', pki.ca, '--http1.1', ...version, `${tlsUrl}/`]), '1.1');
    assert.equal(await curl(['--http2-prior-knowledge', ...version, `http://127.0.0.1:${h2cServer.port}/`]), '2');
    assert.equal(await curl([...version, `http://127.0.0.1:${h2cServer.port}/`]), '1.1');
    // Upgrade: h2c is not taken (node's http2 cannot take over an HTTP/1.1 request): the answer is HTTP/1.1.
    assert.equal(await curl(['--http2', ...version, `http://127.0.0.1:${h2cServer.port}/`]), '1.1');
    const environ = JSON.parse(await curl(['--http2-prior-knowledge', `http://127.0.0.1:${h2cServer.port}/environ`])) as Environ;
    assert.equal(environ.SERVER_PROTOCOL, 'HTTP/2.0');
    assert.equal(environ['wsgi.url_scheme'], 'http');
  });

  test('without --h2c, the HTTP/2 preface on cleartext is refused and HTTP/1.1 is served', async () => {
    const plain = await startServer({ args: ['--processes', '1', 'tls_apps.app'] });
    try {
      await assert.rejects(curl(['--http2-prior-knowledge', `http://127.0.0.1:${plain.port}/`]));
      assert.match(await curl([`http://127.0.0.1:${plain.port}/`]), /hello world/);
    } finally {
      await plain.stop();
    }
  });

  test('103 Early Hints over HTTP/2: an informational HEADERS frame before the final response (curl -v)', async () => {
    const hinted = await startServer({ args: ['--processes', '1', '--h2c', 'edge_apps.hints'] });
    try {
      const { stderr } = await run('curl', ['-sS', '-v', '--max-time', '10', '--http2-prior-knowledge', `http://127.0.0.1:${hinted.port}/`]);
      const statuses = stderr.split('\n').filter((l) => l.startsWith('< HTTP/2 ')).map((l) => l.trim());
      assert.deepEqual(statuses, ['< HTTP/2 103', '< HTTP/2 200'], stderr);
      assert.match(stderr, /< link: <\/style\.css>; rel=preload; as=style[\s\S]*< HTTP\/2 200/);
    } finally {
      await hinted.stop();
    }
  });

  test('Python httpx over h2 and h2c: one connection, the environ of HTTP/2', async () => {
    const script = `
import json, sys, httpx
out = []
for url, verify in ((sys.argv[1], sys.argv[3]), (sys.argv[2], False)):
    kw = {"http1": False} if url.startswith("http:") else {}
    with httpx.Client(http2=True, verify=verify, **kw) as client:
        rs = [client.get(url + "/environ", headers={"X-Custom-Header": "v1", "Cookie": "a=1"}) for _ in range(5)]
        env = rs[-1].json()
        out.append([r.http_version for r in rs][-1])
        out.append([env["SERVER_PROTOCOL"], env["HTTP_HOST"], env["HTTP_X_CUSTOM_HEADER"], env["HTTP_COOKIE"], env["wsgi.url_scheme"]])
        out.append(len({r.extensions["network_stream"] for r in rs}))
print(json.dumps(out))
`;
    const h2c = `http://127.0.0.1:${h2cServer.port}`;
    const { stdout } = await run(VENV_PYTHON, ['-c', script, tlsUrl, h2c, pki.ca]);
    assert.deepEqual(JSON.parse(stdout), [
      'HTTP/2',
      ['HTTP/2.0', `localhost:${tlsServer.port}`, 'v1', 'a=1', 'https'],
      1,
      'HTTP/2',
      ['HTTP/2.0', `127.0.0.1:${h2cServer.port}`, 'v1', 'a=1', 'http'],
      1,
    ]);
  });

  test('header mapping: :authority is HTTP_HOST, names map to the HTTP_* keys of HTTP/1.1, cookies join with "; "', async () => {
    const session = await connect(tlsUrl, ca);
    try {
      const res = await h2request(session, {
        ':path': '/environ?q=1',
        ':authority': 'example.test:8443',
        'x-custom-header': 'v',
        cookie: ['a=1', 'b=2'],
        'x-dup': ['one', 'two'],
        'x_spoofed': 'evil',
        'content-type': 'text/plain',
      });
      assert.equal(res.status, 200);
      const environ = JSON.parse(res.body.toString()) as Environ;
      assert.equal(environ.HTTP_HOST, 'example.test:8443');
      assert.equal(environ.HTTP_X_CUSTOM_HEADER, 'v');
      assert.equal(environ.HTTP_COOKIE, 'a=1; b=2');
      assert.equal(environ.HTTP_X_DUP, 'one,two');
      assert.equal(environ.CONTENT_TYPE, 'text/plain');
      assert.equal(environ.QUERY_STRING, 'q=1');
      assert.equal(environ.PATH_INFO, '/environ');
      assert.equal(environ.SERVER_PROTOCOL, 'HTTP/2.0');
      assert.deepEqual(Object.keys(environ).filter((k) => k.includes('SPOOFED') || k.startsWith('HTTP_:')), []);
      // The app's Connection and Transfer-Encoding headers have no place in HTTP/2: dropped, the body is intact.
      const big = await h2request(session, { ':path': '/big?n=3000000' });
      assert.equal(big.status, 200);
      assert.equal(big.body.length, 3_000_000);
      assert.equal(big.headers['transfer-encoding'], undefined);
      const head = await h2request(session, { ':method': 'HEAD', ':path': '/big?n=1000' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      const after = await h2request(session, { ':path': '/' });
      assert.equal(after.body.toString(), 'hello world\n');
    } finally {
      session.close();
    }
  });

  test('bodies both ways: an 8 MB upload without Content-Length, and an upload held back by flow control while the app does not read', async () => {
    const session = await connect(tlsUrl, ca);
    try {
      const body = Buffer.alloc(8 * 1024 * 1024);
      for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
      const res = await h2request(session, { ':method': 'POST', ':path': '/upload' }, body);
      assert.equal(res.body.toString(), `${body.length} ${createHash('sha256').update(body).digest('hex')}`);

      // /slow reads nothing for a second: the server takes a window's worth, and the rest waits in the client.
      const req = session.request({ ':method': 'POST', ':path': '/slow?s=1' });
      req.on('error', () => {});
      let written = 0;
      const piece = Buffer.alloc(64 * 1024);
      while (written < body.length) {
        req.write(piece);
        written += piece.length;
      }
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(req.bufferSize > 4 * 1024 * 1024, `the server took ${body.length - req.bufferSize} bytes of a body nobody reads`);
      req.close(NGHTTP2_CANCEL);
    } finally {
      session.close();
    }
  });

  test('h2load: many streams on few connections, over TLS and h2c, none failed', async () => {
    for (const url of [`${tlsUrl}/`, `http://127.0.0.1:${h2cServer.port}/`]) {
      const r = await h2load(url, ['-n', '3000', '-c', '2', '-m', '50']);
      assert.equal(r.failed, 0, r.out);
      assert.equal(r.ok2xx, 3000, r.out);
    }
  });

  test('limits: streams per connection from the child\'s capacity; a header list over --max-header-size resets its stream only', async () => {
    const session = http2.connect(tlsUrl, { ca, servername: 'localhost' });
    try {
      await once(session, 'remoteSettings');
      // 4 threads × 1 worker + a queue of 1024, capped at 128.
      assert.equal(session.remoteSettings.maxConcurrentStreams, 128);
      assert.equal(session.remoteSettings.maxHeaderListSize, 16384);
      await assert.rejects(h2request(session, { ':path': '/', 'x-big': 'x'.repeat(20_000) }));
      const fresh = await connect(tlsUrl, ca);
      assert.equal((await h2request(fresh, { ':path': '/' })).status, 200);
      fresh.close();
    } finally {
      session.destroy();
    }
  });

  test('rapid reset (CVE-2023-44487): a client resetting stream after stream is sent GOAWAY ENHANCE_YOUR_CALM, others are served meanwhile', async () => {
    const flood = await connect(tlsUrl, ca);
    // 50 streams opened and cancelled every few milliseconds: under nghttp2's own reset limit
    // (a burst of 1000, which ends the connection with INTERNAL_ERROR), over the front's.
    const { goaway, sent } = await resetFlood(flood, 50, () => new Promise((r) => setTimeout(r, 5)), 20_000);
    const code = await Promise.race([goaway, new Promise<string>((r) => setTimeout(() => r(`no GOAWAY after ${sent} resets; server:\n${tlsServer.stderr().slice(-3000)}`), 10_000))]);
    assert.equal(code, NGHTTP2_ENHANCE_YOUR_CALM);
    assert.ok(sent < 2000, `the server let ${sent} reset streams through`);
    await tlsServer.waitForStderr(/reset more than 200 streams .*ENHANCE_YOUR_CALM/);
    flood.destroy();
    const t0 = Date.now();
    const other = await connect(tlsUrl, ca);
    assert.equal((await h2request(other, { ':path': '/' })).status, 200);
    other.close();
    assert.ok(Date.now() - t0 < 5000, `the next client waited ${Date.now() - t0} ms`);
  });

  test('a reset flood at full speed ends its connection too (nghttp2\'s limit or the front\'s), and the server goes on serving', async () => {
    const flood = await connect(`http://127.0.0.1:${h2cServer.port}`);
    const { goaway, sent } = await resetFlood(flood, 500, () => new Promise((r) => setImmediate(r)), 50_000);
    assert.ok([NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR].includes(await goaway), `sent ${sent}`);
    assert.ok(sent < 50_000, `the server let ${sent} reset streams through`);
    flood.destroy();
    const other = await connect(`http://127.0.0.1:${h2cServer.port}`);
    assert.equal((await h2request(other, { ':path': '/' })).status, 200);
    other.close();
  });

  test('graceful reload: an HTTP/2 connection gets GOAWAY, its open stream finishes, and clients that retry refused streams see 0 failures', async () => {
    const server = await startServer({ args: ['--processes', '2', '--threads', '4', '--h2c', 'tls_apps.app'] });
    const url = `http://127.0.0.1:${server.port}`;
    const tally = { ok: 0, failed: 0, refused: 0, reasons: new Set<string>() };
    let running = true;
    /**
     * A client that keeps one session, and opens a new one once it is told to go away. A stream
     * refused (REFUSED_STREAM) was not processed and is retried on the next session, as RFC 9113
     * §8.7 allows and browsers, curl and nginx do.
     */
    const client = async (): Promise<void> => {
      while (running) {
        let session: http2.ClientHttp2Session;
        try {
          session = await connect(url);
        } catch (err) {
          tally.failed++;
          tally.reasons.add(`connect: ${(err as Error).message}`);
          continue;
        }
        let away = false;
        session.on('goaway', () => (away = true));
        session.on('error', () => {});
        while (running && !away && !session.closed && !session.destroyed) {
          try {
            const res = await h2request(session, { ':path': '/' });
            if (res.status === 200) tally.ok++;
            else {
              tally.failed++;
              tally.reasons.add(`status ${res.status}`);
            }
          } catch (err) {
            if (away && /GOAWAY|ERR_HTTP2_GOAWAY_SESSION|ERR_HTTP2_INVALID_SESSION/.test(String((err as NodeJS.ErrnoException).code ?? err))) break;
            if (/REFUSED_STREAM/.test((err as Error).message)) {
              tally.refused++;
              break;
            }
            tally.failed++;
            tally.reasons.add((err as Error).message);
          }
        }
        session.close();
      }
    };
    const clients = Array.from({ length: 4 }, client);
    try {
      await waitFor(() => tally.ok > 200, 'load running');
      const watched = await connect(url);
      const goaway = new Promise<number>((resolve) => watched.once('goaway', resolve));
      const slow = h2request(watched, { ':path': '/slow?s=1.5' });
      await new Promise((r) => setTimeout(r, 200));
      server.proc.kill('SIGHUP');
      await server.waitForStderr(/reloaded: generation 2 is serving/, 30_000);
      assert.equal(await goaway, 0);
      const res = await slow;
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'slow');
      const before = tally.ok;
      await waitFor(() => tally.ok > before + 200, 'load served by the new generation');
      watched.close();
    } finally {
      running = false;
      await Promise.all(clients);
      await server.stop();
    }
    assert.equal(tally.failed, 0, `failed: ${[...tally.reasons].join('; ')}`);
  });
});
