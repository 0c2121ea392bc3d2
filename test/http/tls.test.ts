/** The TLS flags' checks and the environ's distinguished names, without a server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamLimit } from '../../src/http/h2/h2-front.js';
import { rfc4514, tlsFiles } from '../../src/http/tls.js';

const none = { certfile: null, keyfile: null, caCerts: null, certReqs: 'none', sslMinVersion: 'TLSv1.2', ciphers: null, h2c: false, proxyProtocol: false } as const;

test('RFC 4514: most specific RDN first, special characters escaped', () => {
  assert.equal(rfc4514('C=US\nO=spawning test\nCN=client'), 'CN=client,O=spawning test,C=US');
  assert.equal(rfc4514('O=Smith, Jones + Co\nCN= lead#1 '), 'CN=\\ lead#1\\ ,O=Smith\\, Jones \\+ Co');
});

test('TLS flags: cleartext without them; each one that needs another says which', () => {
  assert.equal(tlsFiles(none), null);
  assert.deepEqual(tlsFiles({ ...none, certfile: 'c.pem', keyfile: 'k.pem' }), { certfile: 'c.pem', keyfile: 'k.pem', caCerts: null });
  assert.throws(() => tlsFiles({ ...none, certfile: 'c.pem' }), /--certfile needs --keyfile/);
  assert.throws(() => tlsFiles({ ...none, keyfile: 'k.pem' }), /--keyfile needs --certfile/);
  assert.throws(() => tlsFiles({ ...none, caCerts: 'ca.pem' }), /--ca-certs needs --certfile and --keyfile/);
  assert.throws(() => tlsFiles({ ...none, ciphers: 'HIGH' }), /--ciphers needs --certfile/);
  assert.throws(() => tlsFiles({ ...none, certfile: 'c.pem', keyfile: 'k.pem', certReqs: 'optional' }), /--cert-reqs optional needs --ca-certs/);
  assert.throws(() => tlsFiles({ ...none, certfile: 'c.pem', keyfile: 'k.pem', h2c: true }), /--h2c is cleartext HTTP\/2/);
  assert.throws(() => tlsFiles({ ...none, certfile: 'c.pem', keyfile: 'k.pem', proxyProtocol: true }), /--proxy-protocol is not supported with --certfile yet/);
});

test('streams per HTTP/2 connection: what the child runs plus what it queues, at most 128', () => {
  assert.equal(streamLimit(16, 1024), 128);
  assert.equal(streamLimit(4, 0), 4);
  assert.equal(streamLimit(2, 10), 12);
});
