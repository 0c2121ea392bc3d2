/** --access-log-format: gunicorn's atoms, compiled once, client values escaped. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileAccessLogFormat, type AccessRecord } from '../../src/http/access-log-format.js';

const record: AccessRecord = {
  remoteAddr: '198.51.100.7',
  method: 'POST',
  url: '/items/7?q=a%20b',
  httpVersion: '1.1',
  status: 201,
  bytes: 0,
  referer: 'http://ref/',
  userAgent: 'ua "quoted"\n',
  seconds: 1.2345678,
  requestHeaders: { 'x-request-id': 'abc', authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` },
  responseHeaders: ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
  environ: { REMOTE_ADDR: '198.51.100.7', SCRIPT_NAME: '/shop' },
};
const TIME = '[23/Nov/2026:07:40:00 +0000]';

describe('access log format', () => {
  it("gunicorn's default format", () => {
    const format = compileAccessLogFormat('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"');
    assert.equal(format(record, TIME), `198.51.100.7 - alice ${TIME} "POST /items/7?q=a%20b HTTP/1.1" 201 - "http://ref/" "ua \\"quoted\\"\\x0a"\n`);
  });

  it('every atom', () => {
    const format = compileAccessLogFormat('%(m)s|%(U)s|%(q)s|%(H)s|%(B)s|%(T)s|%(M)s|%(D)s|%(L)s|%(p)s|100%%');
    assert.equal(format(record, TIME), `POST|/items/7|q=a%20b|HTTP/1.1|0|1|1235|1234568|1.234568|<${process.pid}>|100%\n`);
  });

  it('request and response headers and environ variables by name; "-" when absent', () => {
    const format = compileAccessLogFormat('%({X-Request-Id}i)s %({set-cookie}o)s %({content-type}o)s %({SCRIPT_NAME}e)s %({x-missing}i)s %({nothing}o)s');
    assert.equal(format(record, TIME), 'abc a=1, b=2 text/plain /shop - -\n');
    assert.equal(compileAccessLogFormat('%(u)s')({ ...record, requestHeaders: {} }, TIME), '-\n');
  });

  it('rejects unknown atoms and stray percent signs', () => {
    assert.throws(() => compileAccessLogFormat('%(z)s'), /unknown atom %\(z\)s/);
    assert.throws(() => compileAccessLogFormat('%({x}q)s'), /unknown atom/);
    assert.throws(() => compileAccessLogFormat('100% %(h)s'), /'%' at 4 is neither %% nor %\(atom\)s/);
  });
});
