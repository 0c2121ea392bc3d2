import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { buildEnviron, decodePathLatin1 } from '../../src/http/environ.js';

function request(url: string, rawHeaders: string[], method = 'GET'): IncomingMessage {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: '10.1.2.3' });
  Object.defineProperty(socket, 'remotePort', { value: 5555 });
  const req = new IncomingMessage(socket);
  req.url = url;
  req.method = method;
  req.httpVersion = '1.1';
  req.rawHeaders = rawHeaders;
  return req;
}

const id = { serverName: 'example.org', serverPort: '8080', scheme: 'http' };

describe('environ', () => {
  it('percent-decodes PATH_INFO to latin-1 and keeps bad escapes literal', () => {
    assert.equal(decodePathLatin1('/caf%E9'), '/caf\u00e9');
    assert.equal(decodePathLatin1('/%C3%A9'), '/\u00c3\u00a9');
    assert.equal(decodePathLatin1('/a%2Fb'), '/a/b');
    assert.equal(decodePathLatin1('/100%'), '/100%');
    assert.equal(decodePathLatin1('/%zz%4'), '/%zz%4');
  });

  it('maps the request line, server and client', () => {
    const env = buildEnviron(request('/p%20q?x=1&y=%20', [], 'POST'), id);
    assert.deepEqual(
      [env.REQUEST_METHOD, env.SCRIPT_NAME, env.PATH_INFO, env.QUERY_STRING, env.RAW_URI],
      ['POST', '', '/p q', 'x=1&y=%20', '/p%20q?x=1&y=%20'],
    );
    assert.deepEqual([env.SERVER_NAME, env.SERVER_PORT, env.SERVER_PROTOCOL], ['example.org', '8080', 'HTTP/1.1']);
    assert.deepEqual([env.REMOTE_ADDR, env.REMOTE_PORT, env['wsgi.url_scheme']], ['10.1.2.3', '5555', 'http']);
  });

  it('takes the path of an absolute-form target', () => {
    const env = buildEnviron(request('http://h.example:81/a/b?q=1', []), id);
    assert.deepEqual([env.PATH_INFO, env.QUERY_STRING], ['/a/b', 'q=1']);
    assert.equal(buildEnviron(request('http://h.example', []), id).PATH_INFO, '/');
    assert.deepEqual([buildEnviron(request('http://h.example?q=1', []), id).PATH_INFO, buildEnviron(request('http://h.example?q=1', []), id).QUERY_STRING], ['/', 'q=1']);
  });

  it('leaves a fragment a client sent out of PATH_INFO and QUERY_STRING, not out of RAW_URI', () => {
    const env = buildEnviron(request('/a%20b?page=1#posts-17408', []), id);
    assert.deepEqual([env.PATH_INFO, env.QUERY_STRING, env.RAW_URI], ['/a b', 'page=1', '/a%20b?page=1#posts-17408']);
    const noQuery = buildEnviron(request('/a#frag?x', []), id);
    assert.deepEqual([noQuery.PATH_INFO, noQuery.QUERY_STRING], ['/a', '']);
    const absolute = buildEnviron(request('http://h.example#frag', []), id);
    assert.deepEqual([absolute.PATH_INFO, absolute.QUERY_STRING], ['/', '']);
  });

  it('maps headers: CONTENT_*, HTTP_*, duplicates joined, cookies with "; ", underscores dropped', () => {
    const env = buildEnviron(
      request('/', [
        'Content-Type', 'text/plain',
        'Content-Length', '5',
        'X-Forwarded-For', '1.1.1.1',
        'x-forwarded-for', '2.2.2.2',
        'Cookie', 'a=1',
        'Cookie', 'b=2',
        'X_Forwarded_For', 'spoofed',
        'Accept-Encoding', 'gzip',
      ]),
      id,
    );
    assert.equal(env.CONTENT_TYPE, 'text/plain');
    assert.equal(env.CONTENT_LENGTH, '5');
    assert.equal(env.HTTP_CONTENT_TYPE, undefined);
    assert.equal(env.HTTP_X_FORWARDED_FOR, '1.1.1.1,2.2.2.2');
    assert.equal(env.HTTP_COOKIE, 'a=1; b=2');
    assert.equal(env.HTTP_ACCEPT_ENCODING, 'gzip');
    assert.ok(!Object.values(env).includes('spoofed'));
  });
});
