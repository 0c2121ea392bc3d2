/** PEP 3333 environ from a request: the CGI keys the worker cannot know. */
import type { Environ } from '../../protocol/worker-messages.js';
import { applyForwarded, type ProxyTrust } from './forwarded.js';
import type { FrontRequest } from './front.js';

/** The parts of a request the environ is made of. */
export type RequestHead = Pick<FrontRequest, 'method' | 'url' | 'httpVersion' | 'rawHeaders' | 'socket'>;

export interface ServerIdentity {
  serverName: string;
  serverPort: string;
  scheme: string;
  /** --script-name: where the app is mounted ('' or absent: the root). */
  scriptName?: string;
  /** --forwarded-allow-ips: peers whose proxy headers are applied. */
  trustsProxy?: ProxyTrust;
}

const HEX: Record<string, number> = {};
for (let i = 0; i < 16; i++) {
  HEX[i.toString(16)] = i;
  HEX[i.toString(16).toUpperCase()] = i;
}

/** Percent-decodes to bytes and reads them as latin-1 (PEP 3333 native strings). */
export function decodePathLatin1(path: string): string {
  if (!path.includes('%')) return path;
  let out = '';
  let i = 0;
  while (i < path.length) {
    const ch = path[i]!;
    if (ch === '%' && i + 2 < path.length) {
      const hi = HEX[path[i + 1]!];
      const lo = HEX[path[i + 2]!];
      if (hi !== undefined && lo !== undefined) {
        out += String.fromCharCode(hi * 16 + lo);
        i += 3;
        continue;
      }
    }
    out += ch;
    i++;
  }
  return out;
}

/** The path and query of a request target, for origin-form and absolute-form alike. */
function splitTarget(url: string): [path: string, query: string] {
  // A fragment is the client's own (RFC 9110 §4.2.5), but some clients send one: it is neither path nor query.
  const hash = url.indexOf('#');
  const end = hash < 0 ? url.length : hash;
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */ && url !== '*') {
    const scheme = url.indexOf('://');
    if (scheme > 0 && scheme < end) {
      start = end;
      for (let i = scheme + 3; i < end; i++) {
        const c = url.charCodeAt(i);
        if (c === 47 /* / */ || c === 63 /* ? */) {
          start = i;
          break;
        }
      }
    }
  }
  const q = url.indexOf('?', start);
  if (q < 0 || q > end) return [url.slice(start, end) || '/', ''];
  return [url.slice(start, q) || '/', url.slice(q + 1, end)];
}

/** Header name to its CGI key; null for names that must be dropped. */
const keyCache = new Map<string, string | null>();
function cgiKey(name: string): string | null {
  let key = keyCache.get(name);
  if (key !== undefined) return key;
  const lower = name.toLowerCase();
  if (lower.includes('_')) key = null; // spoofing defence: X_Forwarded vs X-Forwarded
  else if (lower === 'content-type') key = 'CONTENT_TYPE';
  else if (lower === 'content-length') key = 'CONTENT_LENGTH';
  else key = 'HTTP_' + lower.toUpperCase().replaceAll('-', '_');
  if (keyCache.size < 4096) keyCache.set(name, key);
  return key;
}

export function buildEnviron(req: RequestHead, id: ServerIdentity): Environ {
  const [path, query] = splitTarget(req.url ?? '/');
  const socket = req.socket;
  const [scriptName, pathInfo] = mount(id.scriptName ?? '', decodePathLatin1(path));
  const environ: Environ = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: scriptName,
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    RAW_URI: req.url ?? '/',
    SERVER_NAME: id.serverName,
    SERVER_PORT: id.serverPort,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    REMOTE_ADDR: socket.remoteAddress ?? '',
    REMOTE_PORT: socket.remotePort === undefined ? '' : String(socket.remotePort),
    'wsgi.url_scheme': id.scheme,
  };
  const tls = socket.tlsEnviron;
  if (tls !== undefined) {
    environ['wsgi.url_scheme'] = 'https';
    Object.assign(environ, tls);
  }
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const key = cgiKey(raw[i]!);
    if (key === null) continue;
    const value = raw[i + 1]!;
    const prev = environ[key];
    if (prev === undefined) environ[key] = value;
    else environ[key] = prev + (key === 'HTTP_COOKIE' ? '; ' : ',') + value;
  }
  if (id.trustsProxy) applyForwarded(environ, id.trustsProxy);
  return environ;
}

/** SCRIPT_NAME and PATH_INFO under a mount point; a path outside it keeps its PATH_INFO whole (as gunicorn does). */
function mount(scriptName: string, path: string): [string, string] {
  if (scriptName === '') return ['', path];
  if (path === scriptName || path.startsWith(scriptName + '/')) return [scriptName, path.slice(scriptName.length)];
  return [scriptName, path];
}
