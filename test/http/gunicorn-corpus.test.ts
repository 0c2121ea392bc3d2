/**
 * gunicorn's request corpus (test/fixtures/gunicorn-requests, MIT, see its
 * README) sent byte for byte over TCP to a real child with a real Python
 * worker, whose app (test/fixtures/corpus_apps.py) answers with the environ
 * and body it got.
 *
 * Every valid case must reach the app as gunicorn parses it (method, target,
 * path, query, version, headers as the environ carries them, body), or be
 * refused where our front is deliberately stricter (STRICTER, with the
 * reason); every invalid case must be refused: a 4xx, or the connection
 * closed without a 2xx.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodePathLatin1 } from '../../src/http/environ.js';
import { startChild, type RunningChild } from '../helpers/child.js';
import { parseResponses, type RawResponse } from '../helpers/http.js';
import { FIXTURES_DIR } from '../helpers/repo.js';

interface Expected {
  method: string;
  uri: { raw: string; path: string; query: string; fragment: string };
  version: [number, number];
  headers: [string, string][];
  body: string;
  trailers: [string, string][];
}

interface Case {
  name: string;
  raw: string;
  settings: Record<string, unknown>;
  requests?: Expected[];
  error?: string;
}

const CORPUS = JSON.parse(readFileSync(path.join(FIXTURES_DIR, 'gunicorn-requests', 'corpus.json'), 'utf8')) as { cases: Case[] };

/** Valid for gunicorn, refused here on purpose, and why. */
const STRICTER: Record<string, string> = {
  'valid/009': 'Content-Length beside Transfer-Encoding: llhttp refuses the pair (request smuggling; RFC 9112 §6.3 lets a server reject it)',
  'valid/013': "whitespace after ';' in chunk extensions (BWS, which RFC 9112 §7.1.1 allows): llhttp's strict mode refuses it",
  'valid/027': 'raw non-ASCII bytes in the target: llhttp allows only RFC 3986 characters there',
  'valid/028': 'whitespace between a field name and its colon: RFC 9112 §5.1 says a server MUST answer 400 (gunicorn only with strip_header_spaces)',
  'valid/031': 'a method that is not a registered one: llhttp knows only registered methods',
  'valid/031compat': 'a lower-case method (gunicorn only with permit_unconventional_http_method and casefold_http_method): llhttp knows only registered methods',
  'valid/031compat2': 'an unregistered method (gunicorn only with permit_unconventional_http_method): llhttp knows only registered methods',
  'valid/099': 'a body shorter than its Content-Length, cut by EOF: an incomplete message, where gunicorn hands the app what arrived',
  'valid/compat_obs_fold': 'obs-fold (gunicorn only with permit_obsolete_folding): llhttp refuses it, as RFC 9112 §5.2 allows',
  'valid/compat_obs_fold_huge': 'obs-fold (gunicorn only with permit_obsolete_folding): llhttp refuses it, as RFC 9112 §5.2 allows',
  'valid/pp_01': 'a PROXY protocol line (gunicorn only with proxy_protocol): spawning does not speak it',
  'valid/pp_02': 'a PROXY protocol line (gunicorn only with proxy_protocol): spawning does not speak it',
  'valid/pp_04': 'a PROXY protocol line (gunicorn only with proxy_protocol): spawning does not speak it',
  'valid/pp_05': 'a PROXY protocol line (gunicorn only with proxy_protocol): spawning does not speak it',
  'valid/rfc9112_target_authority_connect_01': 'CONNECT: a WSGI app cannot tunnel',
  'valid/rfc9112_target_authority_ipv6_01': 'CONNECT: a WSGI app cannot tunnel',
};

/** Invalid for gunicorn, served here on purpose, and why. */
const SERVED: Record<string, string> = {
  'invalid/006': "a 4,112-byte request line, past gunicorn's limit_request_line (4094); spawning bounds the whole head (--max-header-size), not each line",
  'invalid/007': "an 8,203-byte field, past gunicorn's limit_request_field_size (8190); spawning bounds the whole head, not each field",
  'invalid/008': "an 8,189-byte field (with its name past 8190); spawning bounds the whole head, not each field",
  'invalid/010': 'a 13-byte field, past limit_request_field_size=10 set for this case; spawning bounds the whole head',
  'invalid/017': "a field past gunicorn's limit_request_field_size (8190); spawning bounds the whole head, not each field",
  'invalid/019': 'X-Forwarded-Proto: https beside X-Forwarded-Ssl: off, which gunicorn refuses from a trusted proxy (forwarded_allow_ips=* for this case); spawning reads Forwarded or X-Forwarded-Proto only, and from trusted peers only (not this one)',
  'invalid/chunked_07': "Transfer_Encoding beside Transfer-Encoding, refused by gunicorn only with header_map=refuse; spawning drops the '_' field from the environ, and llhttp never reads it as Transfer-Encoding",
  'invalid/009': "103 fields, past gunicorn's limit_request_fields (100); spawning bounds the whole head, not the count",
  'invalid/011': 'three fields, past limit_request_fields=2 set for this case; spawning has no field count limit',
  'invalid/012': 'a 97-byte field, past limit_request_field_size=98 set for this case; spawning bounds the whole head',
  'invalid/limit_header_default_01': "an 8,190-byte field at gunicorn's default field limit; spawning bounds the whole head",
  'invalid/040': "a field name with '_', refused by gunicorn only with header_map=refuse; spawning drops it from the environ (gunicorn's default, header_map=drop, does too)",
  'invalid/rfc9110_trailer_forbidden_host_01': 'Host in the trailers: spawning discards every trailer (WSGI has none), so it cannot be taken for the Host header (RFC 9110 §6.5.1)',
};

/** The Host this test adds to HTTP/1.1 requests sent without one, to see how the rest of them parses. */
const ADDED_HOST = 'corpus.test';

const lacksHost = (exp: Expected): boolean => exp.version[1] === 1 && !exp.headers.some(([name]) => name === 'HOST');

/** `raw` with a Host field after the request line of every HTTP/1.1 request that has none. */
function withHost(raw: Buffer, requests: Expected[]): Buffer {
  let text = raw.toString('latin1');
  let from = 0;
  for (const exp of requests) {
    // From the target on: a case may send its method in another case than gunicorn reports it.
    const line = ` ${Buffer.from(exp.uri.raw, 'utf8').toString('latin1')} HTTP/${exp.version.join('.')}\r\n`;
    const at = text.indexOf(line, from);
    assert.ok(at >= 0, `request line ${JSON.stringify(line)} not found`);
    from = at + line.length;
    if (!lacksHost(exp)) continue;
    text = `${text.slice(0, from)}Host: ${ADDED_HOST}\r\n${text.slice(from)}`;
    from += `Host: ${ADDED_HOST}\r\n`.length;
  }
  return Buffer.from(text, 'latin1');
}

interface Outcome {
  responses: RawResponse[];
  closed: boolean;
  raw: Buffer;
}

/**
 * Sends `raw` and reads until the expected answers came, a refusal (4xx/5xx)
 * came, or the connection closed. When the server says nothing for a while
 * (an incomplete request waits for more), the client ends its side, so the
 * front can refuse what it has.
 */
function send(port: number, raw: Buffer, expected: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      clearTimeout(deadline);
      socket.destroy();
      const all = Buffer.concat(chunks);
      let responses: RawResponse[] = [];
      try {
        responses = parseResponses(all).filter((r) => r.status >= 200);
      } catch {
        // Unparseable answer: reported through `raw`.
      }
      resolve({ responses, closed, raw: all });
    };
    const quiet = setTimeout(() => socket.end(), 1500);
    const deadline = setTimeout(() => finish(false), 8000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      let responses: RawResponse[];
      try {
        responses = parseResponses(Buffer.concat(chunks)).filter((r) => r.status >= 200);
      } catch {
        return;
      }
      if (responses.length >= expected || responses.some((r) => r.status >= 400)) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => socket.write(raw));
  });
}

/** The environ keys gunicorn's header list becomes (PEP 3333; names with '_' dropped, duplicates joined). */
function expectedHeaders(headers: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name.includes('_')) continue;
    const key = name === 'CONTENT-TYPE' ? 'CONTENT_TYPE' : name === 'CONTENT-LENGTH' ? 'CONTENT_LENGTH' : `HTTP_${name.replaceAll('-', '_')}`;
    out[key] = out[key] === undefined ? value : `${out[key]}${key === 'HTTP_COOKIE' ? '; ' : ','}${value}`;
  }
  return out;
}

function headerKeys(environ: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(environ)) if (key.startsWith('HTTP_') || key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') out[key] = value;
  return out;
}

/** Differences between what the app saw and what gunicorn parsed; empty when they agree. */
function compare(environ: Record<string, string>, exp: Expected): string[] {
  const diffs: string[] = [];
  const check = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${what}: got ${JSON.stringify(got)}, gunicorn ${JSON.stringify(want)}`);
  };
  check('method', environ.REQUEST_METHOD, exp.method);
  check('target', environ.RAW_URI, exp.uri.raw);
  check('path', environ.PATH_INFO, decodePathLatin1(exp.uri.path || '/'));
  check('query', environ.QUERY_STRING, exp.uri.query);
  check('version', environ.SERVER_PROTOCOL, `HTTP/${exp.version[0]}.${exp.version[1]}`);
  const sorted = (o: Record<string, string>): [string, string][] => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1));
  check('headers', sorted(headerKeys(environ)), sorted(expectedHeaders(exp.headers)));
  check('body', environ.body, exp.body);
  return diffs;
}

describe('gunicorn request corpus', { timeout: 300_000 }, () => {
  let dir: string;
  let child: RunningChild;
  const report: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'spawning-corpus-'));
    // Every refusal in full: the report names the reason of each.
    child = await startChild(dir, {}, { args: ['corpus_apps.app'], forwardedAllowIps: [], maxHeaderSize: 16384, headersTimeout: 30, errorLogInterval: 0 });
    await child.message('ready');
  });
  after(async () => {
    await child?.stop();
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`# ${report.join('\n# ')}\n`);
  });

  /** What the child logged since `from` about refusals (the parse error, or why the front answered itself). */
  const logged = async (from: number): Promise<string> => {
    const lines = (): string[] =>
      child
        .stderr()
        .slice(from)
        .split('\n')
        .filter((l) => / for 127\.0\.0\.1: /.test(l))
        .map((l) => l.replace(/^.* for 127\.0\.0\.1: /, ''));
    // The line may reach us a little after the answer did.
    for (let i = 0; i < 20 && lines().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    return lines().join(' | ');
  };

  /** Sends a valid case; returns the differences from gunicorn's parse, or null when it was refused. */
  const serveValid = async (raw: Buffer, requests: Expected[]): Promise<{ diffs: string[]; refused: string | null }> => {
    const stderrFrom = child.stderr().length;
    const out = await send(child.port, raw, requests.length);
    const statuses = out.responses.map((r) => r.status);
    if (statuses.some((s) => s >= 400) || !statuses.some((s) => s >= 200 && s < 300)) return { diffs: [], refused: `${JSON.stringify(statuses)} ${await logged(stderrFrom)}` };
    if (statuses.length !== requests.length || statuses.some((s) => s !== 200)) return { diffs: [`statuses ${JSON.stringify(statuses)} for ${requests.length} request(s)`], refused: null };
    const diffs: string[] = [];
    requests.forEach((exp, i) => diffs.push(...compare(JSON.parse(out.responses[i]!.body.toString()) as Record<string, string>, exp).map((d) => `#${i + 1} ${d}`)));
    return { diffs, refused: null };
  };

  for (const c of CORPUS.cases) {
    it(c.name, async () => {
      let raw: Buffer = Buffer.from(c.raw, 'base64');
      if (c.requests !== undefined) {
        let requests = c.requests;
        let note = '';
        if (requests.some(lacksHost)) {
          // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host (node:http answers so too).
          const asSent = await serveValid(raw, requests);
          const why = asSent.refused ?? asSent.diffs.join('; ');
          // A case refused on other grounds too may meet those first.
          assert.ok(asSent.refused !== null && (/ERR_MISSING_HOST/.test(asSent.refused) || c.name in STRICTER), `${c.name}: sent without Host, not refused for it: ${why}`);
          raw = withHost(raw, requests);
          requests = requests.map((exp) => (lacksHost(exp) ? { ...exp, headers: [...exp.headers, ['HOST', ADDED_HOST] as [string, string]] } : exp));
          note = 'no Host: 400 as sent (RFC 9112 §3.2); with Host added, ';
        }
        const { diffs, refused } = await serveValid(raw, requests);
        if (c.name in STRICTER) {
          assert.ok(refused !== null, `${c.name} is listed as refused (${STRICTER[c.name]}) but was served`);
          report.push(`${c.name}: ${note}refused ${refused} - ${STRICTER[c.name]}`);
          return;
        }
        assert.equal(refused, null, `${c.name} was refused: ${refused}`);
        report.push(`${c.name}: ${note}${diffs.length === 0 ? 'parsed as gunicorn parses it' : diffs.join('; ')}`);
        assert.deepEqual(diffs, []);
      } else {
        const refusal = async (bytes: Buffer): Promise<{ statuses: number[]; closed: boolean; log: string }> => {
          const stderrFrom = child.stderr().length;
          const out = await send(child.port, bytes, 1);
          const statuses = out.responses.map((r) => r.status);
          return { statuses, closed: out.closed, log: statuses.some((s) => s >= 400) ? await logged(stderrFrom) : '' };
        };
        const served = (r: { statuses: number[] }): boolean => r.statuses.some((s) => s >= 200 && s < 300);
        let out = await refusal(raw);
        let note = '';
        if (/ERR_MISSING_HOST/.test(out.log)) {
          // Refused for the missing Host before anything else was looked at: sent again with one, what gunicorn refuses it for decides.
          note = 'no Host: 400 as sent; with Host added, ';
          const head = raw.indexOf('\r\n');
          out = await refusal(Buffer.concat([raw.subarray(0, head + 2), Buffer.from(`Host: ${ADDED_HOST}\r\n`), raw.subarray(head + 2)]));
        }
        if (c.name in SERVED) {
          assert.deepEqual(out.statuses, [200], `${c.name} is listed as served (${SERVED[c.name]})`);
          report.push(`${c.name}: ${note}served - ${SERVED[c.name]}`);
          return;
        }
        assert.ok(!served(out), `${c.name} (gunicorn: ${c.error}) was served: ${out.statuses}`);
        assert.ok(out.statuses.length > 0 || out.closed, `${c.name}: no answer and the connection stayed open`);
        report.push(`${c.name}: ${note}refused ${JSON.stringify(out.statuses)}${out.closed ? ' and closed' : ''}: ${out.log} (gunicorn: ${c.error})`);
      }
    });
  }

  it('sets SERVER_SOFTWARE in the environ, as every CGI-derived server does', async () => {
    const out = await send(child.port, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), 1);
    const environ = JSON.parse(out.responses[0]!.body.toString()) as Record<string, string>;
    assert.match(environ.SERVER_SOFTWARE ?? '', /^spawning\/\d+\.\d+\.\d+/);
  });

  // Bytes after a request in the same packet must not cost that request its answer. The third
  // lost it every time before the fix (the parse error's 400 went out before the app answered).
  for (const [name, raw] of [
    ['Connection: close, then a second request', 'GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['HTTP/1.0, then a second request', 'GET /first HTTP/1.0\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a POST body, then garbage', 'POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\x00garbage\r\n\r\n'],
  ] as const) {
    it(`answers a request followed in the same packet by more bytes: ${name}`, async () => {
      for (let i = 0; i < 10; i++) {
        const out = await send(child.port, Buffer.from(raw, 'latin1'), 1);
        assert.ok(out.responses.length >= 1, `try ${i}: no answer: ${JSON.stringify(out.raw.toString('latin1'))}`);
        assert.equal(out.responses[0]!.status, 200, `try ${i}: ${out.raw.toString('latin1').split('\r\n')[0]}`);
        assert.equal((JSON.parse(out.responses[0]!.body.toString()) as Record<string, string>).PATH_INFO, '/first');
      }
    });
  }
});
