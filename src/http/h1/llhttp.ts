/**
 * Node's own llhttp binding, the request parser node:http runs, reached the
 * way node:http reaches it (`_http_common`'s HTTPParser), with types for the
 * part of its surface the lean front uses.
 *
 * Why this binding and not undici's llhttp WASM build: it is the same parser
 * (same version, same strictness) as node:http, so switching fronts changes
 * no parsing decision; it runs natively and hands JavaScript the request line
 * and up to 32 header pairs in one call (the WASM build calls back into
 * JavaScript for every header name and value, and needs every read copied
 * into its memory first); and it ships with Node, so nothing is added to
 * node_modules. It is internal API: a Node upgrade that changes it fails the
 * front's tests at once rather than quietly, and `SPAWNING_FRONT=node` is the
 * way back.
 *
 * Callbacks are set once per parser and find their connection through
 * `owner`, so parsers are pooled across connections (as node:http pools
 * them) instead of built per connection.
 */
import { createRequire } from 'node:module';

/** What a parser reports, in order, for each message. */
export interface ParserEvents {
  messageBegin(): void;
  /** Header pairs (and the URL so far) of a head too long for one call, or trailers. */
  headers(headers: string[], url: string): void;
  /** `headers` and `url` are undefined when they came through headers() already. Returns 0. */
  headersComplete(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number;
  body(chunk: Buffer): void;
  messageComplete(): void;
}

/** llhttp's error, as the binding returns it. */
export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed: number;
}

export interface Parser {
  /** Parsed byte count (less than the input after an upgrade or CONNECT head), or the error. */
  execute(data: Buffer): number | ParseError;
  /** At EOF: an error when a message was cut short. */
  finish(): number | ParseError | undefined;
}

interface NativeParser extends Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  remove(): void;
  free(): void;
  close(): void;
  owner: ParserEvents | null;
  [slot: number]: unknown;
}

interface NativeParserClass {
  new (): NativeParser;
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

const require = createRequire(import.meta.url);
const { HTTPParser, methods } = require('_http_common') as { HTTPParser: NativeParserClass; methods: string[] };

/** The binding wants an object to run callbacks under (for async hooks); one for all parsers is enough here. */
const RESOURCE = Object.freeze({ type: 'SPAWNING_H1' });
const POOL_MAX = 1000;
const pool: NativeParser[] = [];

function onMessageBegin(this: NativeParser): void {
  this.owner?.messageBegin();
}
function onHeaders(this: NativeParser, headers: string[], url: string): void {
  this.owner?.headers(headers, url);
}
function onHeadersComplete(
  this: NativeParser,
  major: number,
  minor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  _statusCode: unknown,
  _statusMessage: unknown,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  return this.owner?.headersComplete(major, minor, headers, method, url, upgrade, keepAlive) ?? 0;
}
function onBody(this: NativeParser, chunk: Buffer): void {
  this.owner?.body(chunk);
}
function onMessageComplete(this: NativeParser): void {
  this.owner?.messageComplete();
}

function create(): NativeParser {
  const parser = new HTTPParser();
  parser.owner = null;
  parser[HTTPParser.kOnMessageBegin] = onMessageBegin;
  parser[HTTPParser.kOnHeaders] = onHeaders;
  parser[HTTPParser.kOnHeadersComplete] = onHeadersComplete;
  parser[HTTPParser.kOnBody] = onBody;
  parser[HTTPParser.kOnMessageComplete] = onMessageComplete;
  return parser;
}

/** A request parser reporting to `owner`; strict (no lenient flags), as node:http runs it. */
export function takeParser(owner: ParserEvents, maxHeaderSize: number): Parser {
  const parser = pool.pop() ?? create();
  parser.initialize(HTTPParser.REQUEST, RESOURCE, maxHeaderSize, HTTPParser.kLenientNone);
  parser.owner = owner;
  return parser;
}

/** Gives a parser back once its connection is gone. Not from inside one of its own callbacks. */
export function releaseParser(parser: Parser): void {
  const native = parser as NativeParser;
  native.owner = null;
  native.remove();
  if (pool.length < POOL_MAX) {
    // What the native destructor would have done for async hooks, as node:http does for pooled parsers.
    native.free();
    pool.push(native);
  } else {
    native.close();
  }
}

/**
 * Method names by llhttp's method number. The binding exports the names in
 * a dense list whose positions are not the numbers past 33 (QUERY is 46), so
 * the numbers are learnt once by parsing a request of each method.
 */
const METHOD_NAMES: string[] = [];
{
  const probe = new HTTPParser();
  let seen = -1;
  probe[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _headers: unknown, method: number): number => {
    seen = method;
    return 0;
  };
  for (const name of methods) {
    seen = -1;
    probe.initialize(HTTPParser.REQUEST, RESOURCE, 0, HTTPParser.kLenientNone);
    probe.execute(Buffer.from(`${name} ${name === 'CONNECT' ? 'a:1' : '/'} HTTP/1.1\r\n\r\n`, 'latin1'));
    if (seen >= 0) METHOD_NAMES[seen] = name;
  }
  probe.close();
}

export function methodName(method: number): string {
  return METHOD_NAMES[method] ?? 'UNKNOWN';
}

/** llhttp's number for CONNECT. */
export const CONNECT = METHOD_NAMES.indexOf('CONNECT');
