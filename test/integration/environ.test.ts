/**
 * The PEP 3333 environ as the app sees it (echoed as JSON by a validated app),
 * app names in both `module.attr` and `module:attr` forms, and middleware order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Connection, requestHead } from '../helpers/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';

type Environ = Record<string, unknown>;

describe('environ', { timeout: 120_000 }, () => {
  let server: RunningServer;

  before(async () => {
    // module.attr form; 1 process × 3 threads, so multithread is true and multiprocess false.
    server = await startServer({ args: ['--processes', '1', '--threads', '3', 'integration_apps.echo_environ'] });
  });
  after(async () => {
    await server?.stop();
  });

  async function environFor(raw: string): Promise<{ environ: Environ; clientPort: number }> {
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(raw);
      const res = await conn.next();
      assert.equal(res.status, 200, res.body.toString());
      return { environ: JSON.parse(res.body.toString()) as Environ, clientPort: conn.socket.localPort! };
    } finally {
      conn.destroy();
    }
  }

  test('CGI keys, headers and wsgi.* values', async () => {
    const head = requestHead('POST', '/caf%E9/x?a=1&b=%20', [
      ['Host', 'example.test:1234'],
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', '4'],
      ['X-Dup', 'one'],
      ['X-Dup', 'two'],
      ['X_Spoofed', 'evil'],
      ['Cookie', 'a=1'],
      ['Cookie', 'b=2'],
      ['User-Agent', 'environ-test'],
    ]);
    const { environ, clientPort } = await environFor(head + 'abcd');

    assert.equal(environ.REQUEST_METHOD, 'POST');
    assert.equal(environ.SCRIPT_NAME, '');
    assert.equal(environ.PATH_INFO, '/caf\u00e9/x');
    assert.equal(environ.QUERY_STRING, 'a=1&b=%20');
    assert.equal(environ.CONTENT_TYPE, 'text/plain; charset=utf-8');
    assert.equal(environ.CONTENT_LENGTH, '4');
    assert.equal(environ.SERVER_NAME, '127.0.0.1');
    assert.equal(environ.SERVER_PORT, String(server.port));
    assert.equal(environ.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(environ.REMOTE_ADDR, '127.0.0.1');
    assert.equal(environ.REMOTE_PORT, String(clientPort));
    assert.equal(environ.HTTP_HOST, 'example.test:1234');
    assert.equal(environ.HTTP_USER_AGENT, 'environ-test');
    assert.match(String(environ.HTTP_X_DUP), /^one, ?two$/);
    assert.equal(environ.HTTP_COOKIE, 'a=1; b=2');
    // A header spelled with "_" could pose as "X-Spoofed": it is dropped.
    assert.deepEqual(Object.keys(environ).filter((k) => k.includes('SPOOFED')), []);
    assert.equal(environ.HTTP_CONTENT_TYPE, undefined);
    assert.equal(environ.HTTP_CONTENT_LENGTH, undefined);

    assert.deepEqual(environ['wsgi.version'], [1, 0]);
    assert.equal(environ['wsgi.url_scheme'], 'http');
    assert.equal(environ['wsgi.multithread'], true);
    assert.equal(environ['wsgi.multiprocess'], false);
    assert.equal(environ['wsgi.run_once'], false);
    assert.equal(environ['wsgi.input'], true);
    assert.equal(environ['wsgi.errors'], true);
    assert.equal(environ['wsgi.file_wrapper'], true);
    assert.equal(environ['wsgi.input_terminated'], true);
  });

  test('PATH_INFO is percent-decoded bytes as latin-1', async () => {
    const { environ } = await environFor(requestHead('GET', '/%C3%A9'));
    // UTF-8 é is two bytes, so two latin-1 characters: 'Ã©'.
    assert.equal(environ.PATH_INFO, '/\u00c3\u00a9');
    assert.equal(environ.QUERY_STRING, '');
    assert.equal(environ.CONTENT_LENGTH ?? '', '');
  });
});

describe('middleware', { timeout: 120_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      args: ['--processes', '1', '--threads', '1', 'integration_apps:chain', 'integration_middleware.first', 'integration_middleware:second'],
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('applied in order, the last listed outermost', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'second,first');
  });
});
