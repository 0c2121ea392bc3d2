/**
 * TLS with real clients (curl, openssl s_client, Python's ssl and
 * http.client, node's tls): the environ over HTTPS, client certificates,
 * the minimum protocol version, bad flags, and the certificate read again on
 * SIGHUP under load.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { makePki, type Pair, type TestPki } from '../helpers/certs.js';
import { assertOneLineError } from '../helpers/cli-errors.js';
import { VENV_PYTHON } from '../helpers/repo.js';
import { killAllServers, runCli, startServer, type RunningServer } from '../helpers/server.js';
import { acceptedKeepAliveProbeIn } from '../helpers/tcp.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
type Environ = Record<string, unknown>;

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', ...args]);
  return stdout;
}

/** The serial of the certificate a fresh connection is shown. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readPem(ca), servername: 'localhost' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}

/** openssl s_client's verdict on one TLS version: the protocol it got, or null when the handshake failed. */
async function sClient(port: number, flag: string): Promise<string | null> {
  try {
    const { stdout } = await run('sh', ['-c', `openssl s_client -connect 127.0.0.1:${port} ${flag} </dev/null 2>/dev/null`], { timeout: 10_000 });
    const m = /^New, (TLSv[\d.]+), Cipher is (\S+)/m.exec(stdout);
    return m && m[2] !== '(NONE)' ? m[1]! : null;
  } catch {
    return null;
  }
}

describe('TLS', { timeout: 180_000 }, () => {
  let pki: TestPki;
  let served: Pair;
  before(() => {
    pki = makePki();
    served = pki.server();
  });
  after(() => {
    killAllServers();
    pki?.remove();
  });

  describe('HTTPS with optional client certificates', () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({
        args: ['--processes', '1', '--threads', '4', '--certfile', served.cert, '--keyfile', served.key, '--ca-certs', pki.ca, '--cert-reqs', 'optional', 'tls_apps.app'],
      });
    });
    after(async () => {
      await server?.stop();
    });

    test('the controller says https; curl over HTTP/1.1 sees wsgi.url_scheme https and no client certificate', async () => {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const environ = JSON.parse(await curl(['--cacert', pki.ca, '--http1.1', `https://localhost:${server.port}/environ`])) as Environ;
      assert.equal(environ['wsgi.url_scheme'], 'https');
      assert.equal(environ.HTTPS, 'on');
      assert.equal(environ.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(environ.SSL_CLIENT_VERIFY, 'NONE');
      assert.equal(environ.SSL_CLIENT_CERT, undefined);
      assert.equal(environ.HTTP_HOST, `localhost:${server.port}`);
    });

    test('a client certificate the CA signed: SSL_CLIENT_S_DN, SSL_CLIENT_VERIFY and SSL_CLIENT_CERT (PEM), over HTTP/1.1 and HTTP/2', async () => {
      for (const version of ['--http1.1', '--http2']) {
        const environ = JSON.parse(await curl(['--cacert', pki.ca, version, '--cert', pki.client.cert, '--key', pki.client.key, `https://localhost:${server.port}/environ`])) as Environ;
        assert.equal(environ.SERVER_PROTOCOL, version === '--http2' ? 'HTTP/2.0' : 'HTTP/1.1');
        assert.equal(environ.SSL_CLIENT_VERIFY, 'SUCCESS');
        assert.equal(environ.SSL_CLIENT_S_DN, 'CN=client,O=spawning test');
        assert.equal(environ.SSL_CLIENT_I_DN, 'CN=spawning test CA');
        assert.equal(String(environ.SSL_CLIENT_CERT).trim(), readPem(pki.client.cert).trim());
      }
    });

    test('Python ssl and http.client with a client certificate', async () => {
      const script = `
import http.client, json, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
conn = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=ctx)
conn.request("GET", "/environ")
env = json.loads(conn.getresponse().read())
print(json.dumps([conn.sock.version(), env["SSL_CLIENT_VERIFY"], env["SSL_CLIENT_S_DN"], env["wsgi.url_scheme"]]))
`;
      const { stdout } = await run(VENV_PYTHON, ['-c', script, String(server.port), pki.ca, pki.client.cert, pki.client.key]);
      assert.deepEqual(JSON.parse(stdout), ['TLSv1.3', 'SUCCESS', 'CN=client,O=spawning test', 'https']);
    });

    test('optional: a certificate the CA did not sign is refused, and the server goes on serving', async () => {
      await assert.rejects(curl(['--cacert', pki.ca, '--cert', pki.stranger.cert, '--key', pki.stranger.key, `https://localhost:${server.port}/environ`]));
      assert.match(await curl(['--cacert', pki.ca, `https://localhost:${server.port}/`]), /hello world/);
    });

    test('TLS 1.2 and 1.3 are taken, TLS 1.1 is not (the default --ssl-min-version)', async () => {
      assert.equal(await sClient(server.port, '-tls1_3'), 'TLSv1.3');
      assert.equal(await sClient(server.port, '-tls1_2'), 'TLSv1.2');
      assert.equal(await sClient(server.port, '-tls1_1'), null);
    });

    test('the kernel probes a silent TLS connection after 60 s (TCP keep-alive), not 2 hours', async () => {
      const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: server.port, ca: readPem(pki.ca), servername: 'localhost' }, () => resolve(s));
        s.on('error', reject);
      });
      try {
        const probeIn = await acceptedKeepAliveProbeIn(server.port, socket.localPort!);
        assert.ok(probeIn > 30 && probeIn <= 60, `next keep-alive probe in ${probeIn} s`);
      } finally {
        socket.destroy();
      }
    });

    test('plain HTTP on the TLS port gets no answer, and the server goes on serving', async () => {
      await assert.rejects(curl([`http://127.0.0.1:${server.port}/`]));
      assert.match(await curl(['--cacert', pki.ca, `https://localhost:${server.port}/`]), /hello world/);
    });
  });

  test('--cert-reqs required without a certificate: no connection; --ssl-min-version TLSv1.3 refuses TLS 1.2; --http2=off offers HTTP/1.1 only', async () => {
    const server = await startServer({
      args: ['--processes', '1', '--certfile', served.cert, '--keyfile', served.key, '--ca-certs', pki.ca, '--cert-reqs', 'required', '--ssl-min-version', 'TLSv1.3', '--http2=off', 'tls_apps.app'],
    });
    try {
      await assert.rejects(curl(['--cacert', pki.ca, `https://localhost:${server.port}/`]));
      const out = await curl(['--cacert', pki.ca, '--http2', '--cert', pki.client.cert, '--key', pki.client.key, '-w', '%{http_version}', '-o', '/dev/null', `https://localhost:${server.port}/`]);
      assert.equal(out, '1.1');
      assert.equal(await sClient(server.port, `-tls1_2 -cert ${pki.client.cert} -key ${pki.client.key}`), null);
      assert.equal(await sClient(server.port, `-tls1_3 -cert ${pki.client.cert} -key ${pki.client.key}`), 'TLSv1.3');
    } finally {
      await server.stop();
    }
  });

  describe('bad flags are one line and exit 2', () => {
    const app = 'tls_apps.app';
    test('a missing certificate file', async () => {
      const r = await runCli(['--port', '0', '--certfile', '/nonexistent/cert.pem', '--keyfile', served.key, app]);
      assertOneLineError(r, 2, /--certfile \/nonexistent\/cert\.pem: no such file.*SPAWNING_ERR_TLS/);
    });
    test('a key that is not the certificate\'s', async () => {
      const other = pki.server();
      const r = await runCli(['--port', '0', '--certfile', served.cert, '--keyfile', other.key, app]);
      assertOneLineError(r, 2, /--keyfile .* is not the key of --certfile/);
    });
    test('a file that is not PEM', async () => {
      const r = await runCli(['--port', '0', '--certfile', served.key, '--keyfile', served.key, app]);
      assertOneLineError(r, 2, /--certfile .*: not a PEM certificate/);
    });
    test('--certfile without --keyfile, --cert-reqs without --ca-certs, a cipher list OpenSSL rejects, an unknown TLS version', async () => {
      assertOneLineError(await runCli(['--port', '0', '--certfile', served.cert, app]), 2, /--certfile needs --keyfile/);
      assertOneLineError(await runCli(['--port', '0', '--certfile', served.cert, '--keyfile', served.key, '--cert-reqs', 'required', app]), 2, /--cert-reqs required needs --ca-certs/);
      assertOneLineError(await runCli(['--port', '0', '--certfile', served.cert, '--keyfile', served.key, '--ciphers', 'NOT-A-CIPHER', app]), 2, /--ciphers 'NOT-A-CIPHER'/);
      assertOneLineError(await runCli(['--port', '0', '--ssl-min-version', 'TLSv1.1', app]), 2, /--ssl-min-version: expected TLSv1\.2 or TLSv1\.3/);
      assertOneLineError(await runCli(['--port', '0', '--ca-certs', pki.ca, app]), 2, /--ca-certs needs --certfile/);
    });
  });

  test('SIGHUP under load: the new certificate for fresh connections, 0 failed requests, open requests finish; a broken file keeps the old one', async () => {
    const live = { cert: path.join(pki.dir, 'live.pem'), key: path.join(pki.dir, 'live.key') };
    copyFileSync(served.cert, live.cert);
    copyFileSync(served.key, live.key);
    const server = await startServer({ args: ['--processes', '2', '--threads', '4', '--certfile', live.cert, '--keyfile', live.key, 'tls_apps.app'] });
    const ca = readPem(pki.ca);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca, servername: 'localhost' });
    const tally = { ok: 0, failed: 0, reasons: new Set<string>() };
    let running = true;
    const get = (pathname: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port: server.port, path: pathname, agent, servername: 'localhost' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
    const loop = async (): Promise<void> => {
      while (running) {
        try {
          const status = await get('/');
          if (status === 200) tally.ok++;
          else {
            tally.failed++;
            tally.reasons.add(`status ${status}`);
          }
        } catch (err) {
          tally.failed++;
          tally.reasons.add((err as Error).message);
        }
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    try {
      assert.equal(await servedSerial(server.port, pki.ca), served.serial);
      await waitFor(() => tally.ok > 200, 'load running');
      // A request in flight across the reload, on a connection opened before it.
      const inFlight = get('/slow?s=1.5');
      // Handled now, awaited below: a failure before that await is reported as itself, not as this
      // request's 'socket hang up' when the finally block destroys the agent under it.
      inFlight.catch(() => {});
      const next = pki.server();
      copyFileSync(next.cert, `${live.cert}.tmp`);
      copyFileSync(next.key, `${live.key}.tmp`);
      renameSync(`${live.key}.tmp`, live.key);
      renameSync(`${live.cert}.tmp`, live.cert);
      server.proc.kill('SIGHUP');
      await server.waitForStderr(/TLS certificate read again \(serial [0-9A-F]+\)/);
      // The controller writes that line when it reads the files, before its message reaches the
      // serving child: a handshake that child takes first still gets the old certificate.
      await waitFor(async () => (await servedSerial(server.port, pki.ca)) === next.serial, 'a fresh connection with the new certificate');
      // Before generation 2 serves: the serving generation took it, not only the one being started.
      assert.doesNotMatch(server.stderr(), /reloaded: generation 2/);
      await server.waitForStderr(/reloaded: generation 2 is serving/, 30_000);
      const before = tally.ok;
      await waitFor(() => tally.ok > before + 200, 'load served by the new generation');
      assert.equal(await inFlight, 200);

      // A broken certificate: one line, and the one serving stays.
      writeFileSync(live.cert, 'not a certificate\n');
      server.proc.kill('SIGHUP');
      const line = await server.waitForStderr(/TLS certificate not reloaded.*\n/);
      assert.match(line, /the current one keeps serving: --certfile .*live\.pem: not a PEM certificate/);
      await server.waitForStderr(/reloaded: generation 3 is serving/, 30_000);
      assert.equal(await servedSerial(server.port, pki.ca), next.serial);
      const later = tally.ok;
      await waitFor(() => tally.ok > later + 100, 'load served after the failed certificate reload');
    } finally {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      await server.stop();
    }
    assert.equal(tally.failed, 0, `failed requests: ${[...tally.reasons].join('; ')}`);
    assert.ok(tally.ok > 500, `only ${tally.ok} requests`);
  });
});
