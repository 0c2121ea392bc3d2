/** --forwarded-allow-ips: which peers' proxy headers count, and what they say. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Environ } from '../../protocol/worker-messages.js';
import { applyForwarded, checkAllowEntry, proxyTrust } from '../../src/http/forwarded.js';

function apply(peer: string, headers: Record<string, string>, allow: string[] = ['127.0.0.1']): Environ {
  const environ: Environ = { REMOTE_ADDR: peer, 'wsgi.url_scheme': 'http', ...headers };
  applyForwarded(environ, proxyTrust(allow));
  return environ;
}

describe('forwarded headers', () => {
  it('are ignored from a peer that is not a trusted proxy', () => {
    const env = apply('203.0.113.9', { HTTP_X_FORWARDED_FOR: '1.2.3.4', HTTP_X_FORWARDED_PROTO: 'https', HTTP_FORWARDED: 'for=1.2.3.4;proto=https' });
    assert.equal(env.REMOTE_ADDR, '203.0.113.9');
    assert.equal(env['wsgi.url_scheme'], 'http');
  });

  it('X-Forwarded-For and -Proto from a trusted proxy set REMOTE_ADDR and the scheme', () => {
    const env = apply('127.0.0.1', { HTTP_X_FORWARDED_FOR: '198.51.100.7', HTTP_X_FORWARDED_PROTO: 'HTTPS' });
    assert.equal(env.REMOTE_ADDR, '198.51.100.7');
    assert.equal(env['wsgi.url_scheme'], 'https');
  });

  it('the client is the rightmost address that is not a trusted proxy, so a client cannot forge its way past', () => {
    // The client claimed 6.6.6.6 itself; our proxies 10.0.0.2 and 127.0.0.1 appended what they saw.
    const env = apply('127.0.0.1', { HTTP_X_FORWARDED_FOR: '6.6.6.6, 198.51.100.7, 10.0.0.2' }, ['127.0.0.1', '10.0.0.0/8']);
    assert.equal(env.REMOTE_ADDR, '198.51.100.7');
    // '*' trusts every hop: the leftmost address wins.
    assert.equal(apply('192.0.2.1', { HTTP_X_FORWARDED_FOR: '6.6.6.6, 198.51.100.7' }, ['*']).REMOTE_ADDR, '6.6.6.6');
  });

  it('Forwarded (RFC 7239) wins over X-Forwarded-*, with quoted IPv6 nodes, ports and the hop’s own proto', () => {
    const env = apply('::ffff:127.0.0.1', {
      HTTP_FORWARDED: 'for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.2, for=10.0.0.3:80;proto=http',
      HTTP_X_FORWARDED_FOR: '1.1.1.1',
    }, ['127.0.0.1', '10.0.0.0/8']);
    assert.equal(env.REMOTE_ADDR, '2001:db8:cafe::17');
    assert.equal(env['wsgi.url_scheme'], 'https');
  });

  it('an obfuscated or unknown client leaves REMOTE_ADDR, a bogus scheme leaves the scheme', () => {
    const env = apply('127.0.0.1', { HTTP_FORWARDED: 'for=unknown;proto=gopher' });
    assert.equal(env.REMOTE_ADDR, '127.0.0.1');
    assert.equal(env['wsgi.url_scheme'], 'http');
    assert.equal(apply('127.0.0.1', { HTTP_X_FORWARDED_PROTO: 'https' })['wsgi.url_scheme'], 'https');
  });

  it('a Unix-socket peer (a local proxy) is trusted; IPv6 networks match', () => {
    assert.equal(apply('', { HTTP_X_FORWARDED_FOR: '198.51.100.7' }).REMOTE_ADDR, '198.51.100.7');
    assert.equal(apply('fd00::5', { HTTP_X_FORWARDED_FOR: '198.51.100.7' }, ['fd00::/8']).REMOTE_ADDR, '198.51.100.7');
    assert.equal(apply('fe80::5', { HTTP_X_FORWARDED_FOR: '198.51.100.7' }, ['fd00::/8']).REMOTE_ADDR, 'fe80::5');
  });

  it('rejects allow-list entries that are not addresses or networks', () => {
    for (const ok of ['*', '10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']) checkAllowEntry(ok);
    assert.throws(() => checkAllowEntry('localhost'), /'localhost' is not an IP address/);
    assert.throws(() => checkAllowEntry('10.0.0.0/33'), /bad prefix length/);
    assert.throws(() => checkAllowEntry('10.0.0.0/8/1'), /not an IP address/);
  });
});
