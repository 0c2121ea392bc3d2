/**
 * The bytes of a response head, and how its body is framed: what node's
 * ServerResponse.writeHead decides, for the headers the app gives.
 *
 * Checks are node's (same token and field-value rules, same statuses), so an
 * app's response is refused (and the relay answers 500) exactly when node
 * would refuse it. Node's default headers are added likewise: Date unless the
 * app sent one, `Connection: keep-alive` with `Keep-Alive: timeout=N`, or
 * `Connection: close`; `Transfer-Encoding: chunked` for an HTTP/1.1 body of
 * unknown length, and a close-delimited body for HTTP/1.0.
 *
 * Differences from node, where the app's headers would break the framing:
 * - the app's own `Connection` header is not passed on. Whether the
 *   connection stays open is the front's to say (a drain or the connection
 *   balance closes it), though an app that asks for close gets it. Node would
 *   send the app's header and let it overrule the drain;
 * - nor is its `Transfer-Encoding`, a hop-by-hop field PEP 3333 forbids the
 *   app: the front frames the body itself (a Content-Length, else chunked), as
 *   gunicorn does. Node would send both Content-Length and the app's
 *   encoding, which RFC 9112 §6.1 forbids;
 * - a 1xx or 204 response loses any Content-Length (RFC 9110 §8.6: a server
 *   MUST NOT send one there).
 */

const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_FIELD_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
const CLOSE = /(?:^|\W)close(?:$|\W)/i;
const DIGITS = /^\d+$/;

/** A response the front must not send; the message is node's. */
export class ResponseHeadError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let dateLine = '';
let dateUntil = 0;

/** `Date: …\r\n`, formatted once a second. */
function date(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateLine;
}

export interface HeadRequest {
  /** A response to HEAD: never a body. */
  readonly isHead: boolean;
  /** An HTTP/1.0 request: no chunked encoding. */
  readonly http10: boolean;
}

export interface Head {
  /** Latin-1: every character is one byte (the checks refuse anything above U+00FF). */
  text: string;
  /** Body bytes may follow (not HEAD, 1xx, 204 or 304). */
  hasBody: boolean;
  chunked: boolean;
  /** The connection closes after this response. */
  last: boolean;
  /** The body length the head declares (Content-Length), or -1: none, or no body may follow. */
  length: number;
}

/**
 * Builds the head, or throws ResponseHeadError without side effects.
 * `keepAliveHeader` is `Keep-Alive: timeout=N\r\n`, or '' when idle connections never time out.
 */
export function buildHead(status: number, reason: string, headers: readonly string[], req: HeadRequest, keepAlive: boolean, keepAliveHeader: string): Head {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new ResponseHeadError('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${status}`);
  if (INVALID_FIELD_CHAR.test(reason)) throw new ResponseHeadError('ERR_INVALID_CHAR', 'Invalid character in statusMessage');
  if (headers.length % 2 !== 0) throw new ResponseHeadError('ERR_INVALID_ARG_VALUE', "The argument 'headers' is invalid: an odd number of names and values");
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  const hasBody = !req.isHead && status !== 204 && status !== 304 && status >= 200;
  const lengthAllowed = status !== 204 && status >= 200;
  let hasDate = false;
  let length = -1;
  let hasLength = false;
  let appKeepAlive = false;
  let appClose = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (!TOKEN.test(name)) throw new ResponseHeadError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    if (typeof value !== 'string' || INVALID_FIELD_CHAR.test(value)) throw new ResponseHeadError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
    // Only names of these lengths can be one of the headers that change framing (as node's matchHeader).
    const n = name.length;
    if (n === 4 || n === 10 || n === 14 || n === 17) {
      const lower = name.toLowerCase();
      if (lower === 'date') hasDate = true;
      else if (lower === 'keep-alive') appKeepAlive = true;
      else if (lower === 'connection') {
        appClose ||= CLOSE.test(value);
        continue;
      } else if (lower === 'content-length') {
        if (!lengthAllowed) continue;
        if (!hasLength && DIGITS.test(value.trim())) length = Number(value.trim());
        hasLength = true;
      } else if (lower === 'transfer-encoding') continue;
    }
    text += `${name}: ${value}\r\n`;
  }
  if (!hasDate) text += date();

  let chunked = false;
  let last = appClose || !keepAlive;
  let framing = '';
  if (!hasLength && hasBody) {
    // HTTP/1.0 clients know no chunked encoding: without a length only closing ends the body.
    if (req.http10) last = true;
    else {
      framing = 'Transfer-Encoding: chunked\r\n';
      chunked = true;
    }
  }
  text += last ? 'Connection: close\r\n' : appKeepAlive ? 'Connection: keep-alive\r\n' : `Connection: keep-alive\r\n${keepAliveHeader}`;
  return { text: `${text}${framing}\r\n`, hasBody, chunked, last, length: hasBody ? length : -1 };
}

/** `HTTP/1.1 103 Early Hints` with `hints`; throws ResponseHeadError, as buildHead does, on a name or value node would refuse. */
export function buildEarlyHints(hints: Record<string, string | string[]>): string {
  let text = 'HTTP/1.1 103 Early Hints\r\n';
  for (const name of Object.keys(hints)) {
    if (!TOKEN.test(name)) throw new ResponseHeadError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    const value = hints[name]!;
    for (const v of typeof value === 'string' ? [value] : value) {
      if (typeof v !== 'string' || INVALID_FIELD_CHAR.test(v)) throw new ResponseHeadError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
      text += `${name}: ${v}\r\n`;
    }
  }
  return `${text}\r\n`;
}
