/**
 * `--access-log-format`: gunicorn's atoms in Python %-style, e.g.
 * `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`.
 * The format is compiled once into a list of parts, so a line costs one pass.
 * Values that come from the client are escaped (quotes, backslashes and
 * control characters), so a crafted header cannot forge a log line.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Environ, HeaderList } from '../../protocol/worker-messages.js';

/** One request as the access log sees it; every format, the default one included, reads only this. */
export interface AccessRecord {
  remoteAddr: string;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  bytes: number;
  referer: string | undefined;
  userAgent: string | undefined;
  seconds: number;
  /** For --access-log-format's %({name}i)s, %({name}o)s and %({key}e)s atoms. */
  requestHeaders?: IncomingHttpHeaders;
  responseHeaders?: HeaderList;
  environ?: Environ;
}

type Part = string | ((r: AccessRecord, time: string) => string);

const dash = (v: string | undefined | null): string => (v === undefined || v === null || v === '' ? '-' : v);

/** Like Apache: `"` and `\` escaped, control and non-ASCII bytes as \xHH. */
export function escapeLogValue(value: string): string {
  return /[\x00-\x1f"\\\x7f-\uffff]/.test(value)
    ? value.replace(/[\x00-\x1f"\\\x7f-\uffff]/g, (ch) => {
        if (ch === '"' || ch === '\\') return '\\' + ch;
        const code = ch.charCodeAt(0);
        return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
      })
    : value;
}

function header(value: string | string[] | undefined): string {
  return dash(escapeLogValue(Array.isArray(value) ? value.join(', ') : (value ?? '')));
}

function responseHeader(r: AccessRecord, name: string): string {
  const list = r.responseHeaders ?? [];
  const found: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === name) found.push(list[i + 1]!);
  return header(found.length ? found : undefined);
}

function splitUrl(url: string): [path: string, query: string] {
  const q = url.indexOf('?');
  return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}

/** The user of HTTP basic authentication, as gunicorn's %(u)s. */
function basicUser(r: AccessRecord): string {
  const auth = r.requestHeaders?.authorization;
  if (!auth || !/^basic /i.test(auth)) return '-';
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return colon > 0 ? escapeLogValue(decoded.slice(0, colon)) : '-';
}

const ATOMS: Record<string, (r: AccessRecord, time: string) => string> = {
  h: (r) => dash(r.remoteAddr),
  l: () => '-',
  u: basicUser,
  t: (_, time) => time,
  r: (r) => escapeLogValue(`${r.method} ${r.url} HTTP/${r.httpVersion}`),
  m: (r) => escapeLogValue(r.method),
  U: (r) => escapeLogValue(splitUrl(r.url)[0]),
  q: (r) => escapeLogValue(splitUrl(r.url)[1]),
  H: (r) => `HTTP/${r.httpVersion}`,
  s: (r) => String(r.status),
  B: (r) => String(r.bytes),
  b: (r) => (r.bytes > 0 ? String(r.bytes) : '-'),
  f: (r) => header(r.referer),
  a: (r) => header(r.userAgent),
  T: (r) => String(Math.floor(r.seconds)),
  M: (r) => String(Math.round(r.seconds * 1e3)),
  D: (r) => String(Math.round(r.seconds * 1e6)),
  L: (r) => r.seconds.toFixed(6),
  p: () => `<${process.pid}>`,
};

function atom(name: string): (r: AccessRecord, time: string) => string {
  const known = ATOMS[name];
  if (known) return known;
  const m = /^\{([^}]+)\}([ioe])$/.exec(name);
  if (!m) throw new Error(`unknown atom %(${name})s (see the access log atoms in README.md)`);
  const key = m[1]!.toLowerCase();
  if (m[2] === 'i') return (r) => header(r.requestHeaders?.[key]);
  if (m[2] === 'o') return (r) => responseHeader(r, key);
  const variable = m[1]!;
  return (r) => header(r.environ?.[variable]);
}

/** Compiles a format; throws with the reason when it has an unknown atom or a stray '%'. */
export function compileAccessLogFormat(format: string): (r: AccessRecord, time: string) => string {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== '%') {
      literal += ch;
      continue;
    }
    if (format[i + 1] === '%') {
      literal += '%';
      i++;
      continue;
    }
    const m = /^%\(([^)]+)\)s/.exec(format.slice(i));
    if (!m) throw new Error(`'%' at ${i + 1} is neither %% nor %(atom)s`);
    if (literal) parts.push(literal);
    literal = '';
    parts.push(atom(m[1]!));
    i += m[0].length - 1;
  }
  if (literal) parts.push(literal);
  return (r, time) => {
    let line = '';
    for (const p of parts) line += typeof p === 'string' ? p : p(r, time);
    return line + '\n';
  };
}
