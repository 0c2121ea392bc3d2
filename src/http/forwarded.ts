/**
 * Proxy headers (`--forwarded-allow-ips`): only when the peer is a trusted
 * proxy do `Forwarded` (RFC 7239), or else `X-Forwarded-For` and
 * `X-Forwarded-Proto`, decide REMOTE_ADDR and wsgi.url_scheme. Anyone else
 * could claim any address in them.
 *
 * The client is found from the right: each proxy appends the address it
 * received the request from, so the rightmost address that is not a trusted
 * proxy is the first hop nobody we trust vouches for (uvicorn does the same).
 */
import net from 'node:net';
import type { Environ } from '../../protocol/worker-messages.js';

export type ProxyTrust = (address: string) => boolean;

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) is 1.2.3.4. */
function plain(address: string): string {
  return MAPPED_V4.exec(address)?.[1] ?? address;
}

/** Checks one --forwarded-allow-ips entry; throws with the reason. */
export function checkAllowEntry(entry: string): void {
  if (entry === '*') return;
  const [address, bits, extra] = entry.split('/');
  const family = net.isIP(address ?? '');
  if (family === 0 || extra !== undefined) throw new Error(`'${entry}' is not an IP address, a network like 10.0.0.0/8, or '*'`);
  if (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) throw new Error(`'${entry}' has a bad prefix length`);
}

/** Peers matching an entry (an address, a CIDR network, or '*') are trusted; so is a Unix-socket peer (a local proxy). */
export function proxyTrust(entries: readonly string[]): ProxyTrust {
  if (entries.includes('*')) return () => true;
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (address === '') return true;
    const a = plain(address);
    const family = net.isIP(a);
    return family !== 0 && list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
}

interface Hop {
  for: string;
  proto: string | undefined;
}

/** Splits on `sep` outside double quotes. */
function split(value: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === sep && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

/** A node as proxies write it (`"[2001:db8::1]:4711"`, `192.0.2.1:80`, `unknown`) to a bare address. */
function nodeAddress(node: string): string {
  let n = node.trim().replace(/^"|"$/g, '');
  if (n.startsWith('[')) return n.slice(1, n.indexOf(']') > 0 ? n.indexOf(']') : undefined);
  if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(n)) n = n.slice(0, n.lastIndexOf(':'));
  return n;
}

function forwardedHops(header: string): Hop[] {
  return split(header, ',').map((element) => {
    const hop: Hop = { for: '', proto: undefined };
    for (const pair of split(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      const value = pair.slice(eq + 1).trim();
      if (key === 'for') hop.for = nodeAddress(value);
      else if (key === 'proto') hop.proto = value.replace(/^"|"$/g, '').toLowerCase();
    }
    return hop;
  });
}

function xForwardedHops(forwardedFor: string | undefined, proto: string | undefined): Hop[] {
  const fors = forwardedFor === undefined ? [] : forwardedFor.split(',').map(nodeAddress);
  const protos = proto === undefined ? [] : proto.split(',').map((p) => p.trim().toLowerCase());
  if (fors.length === 0) return protos.length ? [{ for: '', proto: protos[protos.length - 1] }] : [];
  // Proxies that add both add one of each; otherwise the last scheme is the only one we know.
  return fors.map((f, i) => ({ for: f, proto: protos.length === fors.length ? protos[i] : protos[protos.length - 1] }));
}

/** Rewrites REMOTE_ADDR and wsgi.url_scheme from the proxy headers when the peer is trusted. */
export function applyForwarded(environ: Environ, trusts: ProxyTrust): void {
  const forwarded = environ.HTTP_FORWARDED;
  const xff = environ.HTTP_X_FORWARDED_FOR;
  const xfp = environ.HTTP_X_FORWARDED_PROTO;
  if (forwarded === undefined && xff === undefined && xfp === undefined) return;
  if (!trusts(environ.REMOTE_ADDR ?? '')) return;
  const hops = forwarded !== undefined ? forwardedHops(forwarded) : xForwardedHops(xff, xfp);
  if (hops.length === 0) return;
  let client = hops[0]!;
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trusts(hops[i]!.for) || hops[i]!.for === '') {
      client = hops[i]!;
      break;
    }
  }
  if (net.isIP(client.for)) environ.REMOTE_ADDR = client.for;
  const proto = client.proto ?? [...hops].reverse().find((h) => h.proto !== undefined)?.proto;
  if (proto === 'http' || proto === 'https') environ['wsgi.url_scheme'] = proto;
}
