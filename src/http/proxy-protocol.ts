/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2, as HAProxy and AWS
 * NLB send it): a load balancer that forwards TCP writes the client's
 * address in a header before the first byte of the client's own stream.
 *
 * It is read here, on the raw socket, before any HTTP parser (or a TLS
 * handshake: the header precedes it) sees a byte, so any front can use it:
 * `acceptProxied` wraps a front's connection listener. The header is taken
 * only from peers `--forwarded-allow-ips` trusts; from anyone else, and when
 * it is malformed, the connection is closed. A connection that does not begin
 * with a PROXY signature is served as it is, with its own peer address (a
 * health check made directly, say).
 *
 *  v1: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"  (at most 107 bytes)
 *  v2:  0                   1                   2                   3
 *      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *      | signature \r\n\r\n\0\r\nQUIT\n (12 bytes)                     |
 *      +---------------+---------------+-------------------------------+
 *      | ver 2 | cmd   | family|proto  | length of what follows (BE)   |
 *      +---------------+---------------+-------------------------------+
 *      | src addr, dst addr, src port, dst port (IPv4 12, IPv6 36 B)   |
 *      | then TLVs (skipped), up to `length`                           |
 *      +---------------------------------------------------------------+
 *
 * The LOCAL command (a balancer's own health check) and the UNKNOWN/UNSPEC
 * families carry no client: the connection keeps its peer address.
 */
import net from 'node:net';
import type { ProxyTrust } from './forwarded.js';

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest v1 line, CRLF included (the spec's 107). */
const V1_MAX = 107;
const V2_FIXED = 16;
const PORT = /^(?:0|[1-9]\d{0,4})$/;

export interface ProxiedSource {
  address: string;
  port: number;
}

export type ProxyHeader =
  /** More bytes are needed to decide. */
  | { kind: 'incomplete' }
  /** The stream does not begin with a PROXY signature. */
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string }
  /** `consumed` bytes were the header; `source` is null when it names no client (LOCAL, UNKNOWN). */
  | { kind: 'header'; version: 1 | 2; consumed: number; source: ProxiedSource | null };

/** `buf` begins like `prefix` as far as either goes: 'yes' (all of prefix), 'maybe' (buf is shorter), 'no'. */
function startsLike(buf: Buffer, prefix: Buffer): 'yes' | 'maybe' | 'no' {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return 'no';
  return buf.length >= prefix.length ? 'yes' : 'maybe';
}

/** Reads the header at the start of `buf` (the bytes received so far). */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  const v1 = startsLike(buf, V1_PREFIX);
  if (v1 === 'maybe') return { kind: 'incomplete' };
  if (v1 === 'yes') return parseV1(buf);
  const v2 = startsLike(buf, V2_SIGNATURE);
  if (v2 === 'maybe') return { kind: 'incomplete' };
  if (v2 === 'yes') return parseV2(buf);
  return { kind: 'none' };
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0 || end + 2 > V1_MAX) {
    if (end < 0 && buf.length < V1_MAX) return { kind: 'incomplete' };
    return { kind: 'invalid', reason: `a v1 header longer than ${V1_MAX} bytes` };
  }
  const consumed = end + 2;
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { kind: 'header', version: 1, consumed, source: null };
  if (parts.length !== 6) return { kind: 'invalid', reason: 'a v1 header needs protocol, two addresses and two ports' };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return { kind: 'invalid', reason: `unknown v1 protocol '${proto}'` };
  if (net.isIP(src) !== family || net.isIP(dst) !== family) return { kind: 'invalid', reason: `addresses that are not ${proto}` };
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return { kind: 'invalid', reason: 'a bad v1 port' };
  return { kind: 'header', version: 1, consumed, source: { address: src, port: Number(sport) } };
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < V2_FIXED) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `v2 signature with version ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `unknown v2 command ${command}` };
  const length = buf.readUInt16BE(14);
  const consumed = V2_FIXED + length;
  if (buf.length < consumed) return { kind: 'incomplete' };
  if (command === 0) return { kind: 'header', version: 2, consumed, source: null }; // LOCAL
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (family > 3 || transport > 2) return { kind: 'invalid', reason: `unknown v2 address family 0x${buf[13]!.toString(16)}` };
  const at = V2_FIXED;
  if (family === 1) {
    if (length < 12) return { kind: 'invalid', reason: 'a v2 IPv4 address block shorter than 12 bytes' };
    return { kind: 'header', version: 2, consumed, source: { address: `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`, port: buf.readUInt16BE(at + 8) } };
  }
  if (family === 2) {
    if (length < 36) return { kind: 'invalid', reason: 'a v2 IPv6 address block shorter than 36 bytes' };
    return { kind: 'header', version: 2, consumed, source: { address: formatIPv6(buf.subarray(at, at + 16)), port: buf.readUInt16BE(at + 32) } };
  }
  // UNSPEC, or a Unix socket at the balancer: no client address to give.
  return { kind: 'header', version: 2, consumed, source: null };
}

/** RFC 5952 text, as the kernel's inet_ntop gives node's remoteAddress (`::ffff:1.2.3.4` for a mapped IPv4). */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface ProxyProtocolOptions {
  /** --forwarded-allow-ips: the peers whose header is taken. */
  trusts: ProxyTrust;
  /** A connection that has not finished its header by then is closed; 0: no limit. */
  timeoutMs: number;
  /** One line about a refused connection. */
  log?: (line: string) => void;
}

/**
 * Wraps a front's connection listener: `onConnection` gets the socket once its
 * header (if any) is read and consumed, with `remoteAddress` and `remotePort`
 * set to the client the header names. Bytes after the header are unshifted,
 * so the listener reads the stream as the client sent it.
 */
export function acceptProxied(opts: ProxyProtocolOptions, onConnection: (socket: net.Socket) => void): (socket: net.Socket) => void {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  return (socket) => {
    let received: Buffer = Buffer.alloc(0);
    let decided = false;
    const refuse = (reason: string): void => {
      log(`spawning: child ${process.pid}: PROXY protocol from ${socket.remoteAddress ?? 'unix socket'}: ${reason}; connection closed`);
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const header = parseProxyHeader(received);
      if (header.kind === 'incomplete') return;
      decided = true;
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (opts.timeoutMs > 0) socket.setTimeout(0);
      if (header.kind === 'invalid') return refuse(header.reason);
      let rest = received;
      if (header.kind === 'header') {
        if (!opts.trusts(socket.remoteAddress ?? '')) return refuse('a header from a peer not in --forwarded-allow-ips');
        rest = received.subarray(header.consumed);
        if (header.source !== null) {
          Object.defineProperty(socket, 'remoteAddress', { value: header.source.address, configurable: true });
          Object.defineProperty(socket, 'remotePort', { value: header.source.port, configurable: true });
          Object.defineProperty(socket, 'remoteFamily', { value: net.isIPv6(header.source.address) ? 'IPv6' : 'IPv4', configurable: true });
        }
      }
      if (rest.length > 0) socket.unshift(rest);
      onConnection(socket);
      socket.resume();
    };
    // Closed before it said anything that could be decided: nothing to hand over.
    const onEnd = (): void => void socket.destroy();
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', () => socket.destroy());
    if (opts.timeoutMs > 0) {
      socket.setTimeout(opts.timeoutMs);
      socket.once('timeout', () => {
        if (!decided) refuse(`no complete header within ${opts.timeoutMs / 1000} s`);
      });
    }
  };
}
