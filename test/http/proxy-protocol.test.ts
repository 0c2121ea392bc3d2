/** The PROXY protocol parser (v1 text, v2 binary), byte by byte as a socket may deliver it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIPv6, parseProxyHeader, type ProxyHeader } from '../../src/http/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(verCmd: number, fam: number, block: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = verCmd;
  head[1] = fam;
  head.writeUInt16BE(block.length, 2);
  return Buffer.concat([SIG, head, block]);
}

function ipv4Block(src: number[], dst: number[], sport: number, dport: number, extra = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  b.set(src, 0);
  b.set(dst, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return Buffer.concat([b, extra]);
}

/** Every prefix of the header is 'incomplete', the whole is `expected`. */
function parsesWhole(header: Buffer, expected: ProxyHeader, after = 'GET / HTTP/1.1\r\n\r\n'): void {
  for (let i = 0; i < header.length; i++) assert.deepEqual(parseProxyHeader(header.subarray(0, i)), { kind: 'incomplete' }, `prefix of ${i} bytes`);
  assert.deepEqual(parseProxyHeader(Buffer.concat([header, Buffer.from(after)])), expected);
}

test('v1 TCP4 and TCP6', () => {
  const h4 = Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n');
  parsesWhole(h4, { kind: 'header', version: 1, consumed: h4.length, source: { address: '192.0.2.1', port: 56324 } });
  const h6 = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 4711 80\r\n');
  parsesWhole(h6, { kind: 'header', version: 1, consumed: h6.length, source: { address: '2001:db8::1', port: 4711 } });
});

test('v1 UNKNOWN keeps the peer', () => {
  const h = Buffer.from('PROXY UNKNOWN\r\n');
  assert.deepEqual(parseProxyHeader(h), { kind: 'header', version: 1, consumed: h.length, source: null });
});

test('malformed v1 headers are invalid', () => {
  for (const bad of [
    'PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n',
    'PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n',
    'PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n',
    'PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n',
    'PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n',
    `PROXY TCP4 ${'1'.repeat(120)}`,
  ]) {
    assert.equal(parseProxyHeader(Buffer.from(bad)).kind, 'invalid', bad);
  }
});

test('v2 PROXY over IPv4, TLVs skipped', () => {
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP-ish, 3 bytes
  const h = v2(0x21, 0x11, ipv4Block([203, 0, 113, 7], [10, 0, 0, 1], 40000, 8080, tlv));
  parsesWhole(h, { kind: 'header', version: 2, consumed: h.length, source: { address: '203.0.113.7', port: 40000 } });
});

test('v2 PROXY over IPv6', () => {
  const block = Buffer.alloc(36);
  block.set([0x20, 0x01, 0x0d, 0xb8], 0);
  block[15] = 5;
  block.writeUInt16BE(1234, 32);
  const h = v2(0x21, 0x21, block);
  parsesWhole(h, { kind: 'header', version: 2, consumed: h.length, source: { address: '2001:db8::5', port: 1234 } });
});

test('v2 LOCAL and UNSPEC keep the peer', () => {
  const local = v2(0x20, 0x00, Buffer.alloc(0));
  assert.deepEqual(parseProxyHeader(local), { kind: 'header', version: 2, consumed: 16, source: null });
  const unspec = v2(0x21, 0x00, Buffer.alloc(0));
  assert.deepEqual(parseProxyHeader(unspec), { kind: 'header', version: 2, consumed: 16, source: null });
});

test('malformed v2 headers are invalid', () => {
  assert.equal(parseProxyHeader(v2(0x11, 0x11, ipv4Block([1, 2, 3, 4], [1, 2, 3, 4], 1, 2))).kind, 'invalid'); // version 1
  assert.equal(parseProxyHeader(v2(0x22, 0x11, ipv4Block([1, 2, 3, 4], [1, 2, 3, 4], 1, 2))).kind, 'invalid'); // command 2
  assert.equal(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(8))).kind, 'invalid'); // short IPv4 block
  assert.equal(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(12))).kind, 'invalid'); // short IPv6 block
  assert.equal(parseProxyHeader(v2(0x21, 0x41, Buffer.alloc(12))).kind, 'invalid'); // family 4
});

test('plain HTTP is not a header, decided on the first byte that differs', () => {
  assert.deepEqual(parseProxyHeader(Buffer.from('G')), { kind: 'none' });
  assert.deepEqual(parseProxyHeader(Buffer.from('P')), { kind: 'incomplete' });
  assert.deepEqual(parseProxyHeader(Buffer.from('PO')), { kind: 'none' });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROPFIND / HTTP/1.1\r\n')), { kind: 'none' });
  assert.deepEqual(parseProxyHeader(Buffer.from('\r\nGET')), { kind: 'none' });
});

test('IPv6 text as inet_ntop writes it', () => {
  const b = (hex: string): Buffer => Buffer.from(hex, 'hex');
  assert.equal(formatIPv6(b('20010db8000000000000000000000001')), '2001:db8::1');
  assert.equal(formatIPv6(b('00000000000000000000000000000001')), '::1');
  assert.equal(formatIPv6(b('00000000000000000000ffffc0000201')), '::ffff:192.0.2.1');
  assert.equal(formatIPv6(b('20010db8000100000001000000000001')), '2001:db8:1:0:1::1');
  assert.equal(formatIPv6(b('20010db8000000010000000000000000')), '2001:db8:0:1::');
  assert.equal(formatIPv6(b('00000000000000000000000000000000')), '::');
});
