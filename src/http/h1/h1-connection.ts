/**
 * One client connection of the lean front: its parser, its requests in
 * order, and the socket they share.
 *
 * Bytes read go to the parser (one per connection, pooled); each request
 * head becomes an H1Request and an H1Response, queued in request order. The
 * first response in the queue is the active one and writes to the socket;
 * later (pipelined) ones keep their output until their turn, and finished
 * ones go out together under one cork.
 *
 * Reading stops while the output backs up (a client that sends requests but
 * does not read the answers), between requests only, or while a paused
 * request holds too much of its body, and resumes when both clear.
 *
 * A response that closes the connection ends what is read: later requests
 * are not taken, input is discarded, and once the response is out the
 * connection half-closes and lingers until the client closes its side (or
 * LINGER_MS), so the client reads the answer instead of a reset for the bytes
 * it sent meanwhile. Only if it may still be sending, as nginx's lingering
 * close judges: when the last request was read whole and nothing came after
 * it, the connection closes as soon as the answers are out, as node:http's
 * does, without waiting a turn of the loop for the client's side.
 *
 * A request the parser refuses has lost its framing: the answer (400, 431,
 * 408) goes out at once if no response has begun on the socket, else the
 * connection is cut. Requests the front answers itself without losing
 * framing (no Host or two, CONNECT, an HTTP/2 version line, an unknown
 * Expect...) get an ordinary response in their place in the queue.
 */
import type net from 'node:net';
import { clientErrorBody, clientErrorReply, clientErrorStatus, logClientError, RESET } from '../client-error.js';
import type { FrontHandlers, FrontPeer } from '../front.js';
import { reasonPhrase } from '../front.js';
import { H1Request, type BodyFlow } from './h1-request.js';
import { H1Response, type ResponseSink, type WriteCallback } from './h1-response.js';
import { CONNECT, methodName, releaseParser, takeParser, type ParseError, type Parser, type ParserEvents } from './llhttp.js';

/** What every connection of one front shares. */
export interface ConnectionContext {
  readonly handlers: FrontHandlers;
  readonly maxHeaderSize: number;
  /** `Keep-Alive: timeout=N\r\n`, or '' when idle connections never time out. */
  readonly keepAliveHeader: string;
  closed(conn: H1Connection): void;
}

/** Why reading from the client is stopped (bits). */
const OUTPUT_BACKED_UP = 1;
const BODY_HELD = 2;

/** Output queued for the client past which no more requests are read until it drains (node:http's rule, its default high-water mark). */
const OUTPUT_LIMIT = 16 * 1024;
/** How long a half-closed connection waits for the client to close its side. */
export const LINGER_MS = 5000;
const CONTINUE_EXPECTED = /(?:^|\W)100-continue(?:$|\W)/i;
/** An absolute-form target (RFC 9112 §3.2.2) a server can take: http(s), then an authority (RFC 3986 §3.2) up to the path. */
const ABSOLUTE_FORM = /^https?:\/\/(?:[\w\-.~%!$&'()*+,;=:]*@)?(?:\[[\dA-Fa-f:.]+\]|[\w\-.~%!$&'()*+,;=]*)(?::\d*)?(?:[/?#]|$)/i;
const HEAD_METHOD = 'HEAD';

/** `name` is `lower` in any case (ASCII letters and '-' only). */
function isName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * What llhttp lets through but HTTP/1.1 says a server must not serve, checked
 * in one pass over the header names: [status, code, message], or null.
 */
function refusalOf(method: number, target: string, major: number, minor: number, headers: string[]): [number, string, string] | null {
  if (major !== 1) return [505, 'ERR_HTTP_VERSION', `HTTP/${major}.${minor} is not HTTP/1.x`];
  const first = target.charCodeAt(0);
  if (first !== 47 /* / */) {
    if (target === '*') {
      if (methodName(method) !== 'OPTIONS') return [400, 'ERR_ASTERISK_FORM', `the asterisk-form target is for OPTIONS only, not ${methodName(method)} (RFC 9112 §3.2.4)`];
    } else if (method !== CONNECT && !ABSOLUTE_FORM.test(target)) {
      // llhttp takes any scheme and authority (`s://]ufd/:`): the environ would make a path of what is left.
      return [400, 'ERR_REQUEST_TARGET', 'an absolute-form target that is not http(s) with a valid authority'];
    }
  }
  let hosts = 0;
  let contentTypes = 0;
  let transferEncoding = false;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === 4 && isName(n, 'host')) hosts++;
    else if (n.length === 12 && isName(n, 'content-type')) contentTypes++;
    else if (n.length === 17 && isName(n, 'transfer-encoding')) transferEncoding = true;
  }
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host (node:http does too), and for any request with two.
  if (hosts === 0 && minor === 1) return [400, 'ERR_MISSING_HOST', 'an HTTP/1.1 request without a Host header'];
  if (hosts > 1) return [400, 'ERR_DUPLICATE_HOST', 'more than one Host header (RFC 9112 §3.2)'];
  // Joined, two media types would make one CONTENT_TYPE no app can read; gunicorn refuses them too.
  if (contentTypes > 1) return [400, 'ERR_DUPLICATE_CONTENT_TYPE', 'more than one Content-Type header'];
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must be treated as having faulty framing.
  if (transferEncoding && minor === 0) return [400, 'ERR_HTTP10_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)'];
  return null;
}

export class H1Connection implements FrontPeer, ParserEvents, ResponseSink, BodyFlow {
  readonly keepAliveHeader: string;
  pendingBytes = 0;
  /** Over TLS, set by the TLS front once the handshake is done. */
  tlsEnviron: Readonly<Record<string, string>> | undefined = undefined;
  /** When the head being read started (ms), for --headers-timeout; 0: none is. A new connection counts as one, as in node. */
  headStartedAt = Date.now();
  /** When the connection last became idle: no request being read, no response owed (ms); 0: it is not. */
  idleSince = 0;
  /** When the connection half-closed and began to wait for the client's side (ms); 0: it has not. */
  lingerSince = 0;
  readonly #socket: net.Socket;
  readonly #ctx: ConnectionContext;
  #parser: Parser | null;
  readonly #queue: H1Response[] = [];
  /** The request whose body is being read. */
  #current: H1Request | null = null;
  #inHead = true;
  #partialHeaders: string[] | null = null;
  #partialUrl = '';
  #blocked = 0;
  #bodyHolders = 0;
  /** No more requests are taken: a response closes the connection, or the client ended it. */
  #last = false;
  /** Input is thrown away (after #last, once the request being read is complete, or after a refusal). */
  #discard = false;
  /** The client may still be sending when the connection closes: a head begun, bytes unparsed or thrown away, a refusal or a timeout. */
  #mayBeSending = false;
  #closed = false;

  constructor(socket: net.Socket, ctx: ConnectionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.keepAliveHeader = ctx.keepAliveHeader;
    this.#parser = takeParser(this, ctx.maxHeaderSize);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }

  /** From the front's sweep: the headers timeout, the keep-alive timeout and the linger. */
  checkTimeouts(now: number, headersTimeoutMs: number, idleTimeoutMs: number): void {
    if (this.#closed) return;
    if (this.lingerSince !== 0) {
      if (now - this.lingerSince >= LINGER_MS) this.destroy();
    } else if (this.headStartedAt !== 0 && headersTimeoutMs > 0 && now - this.headStartedAt >= headersTimeoutMs) {
      this.#headersTimedOut();
    } else if (this.idleSince !== 0 && idleTimeoutMs > 0 && now - this.idleSince >= idleTimeoutMs) {
      this.destroy();
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }

  // ---- reading ---------------------------------------------------------------

  readonly #onData = (chunk: Buffer): void => {
    if (this.#discard || this.#parser === null) {
      this.#mayBeSending = true;
      return;
    }
    let data = chunk;
    for (;;) {
      const ret = this.#parser.execute(data);
      if (typeof ret !== 'number') return this.#parseError(ret);
      // The parser stops after the head of an Upgrade request (served as a plain request here,
      // the bytes after it are the next request) or of CONNECT (refused, #discard is set).
      if (ret >= data.length || ret === 0 || this.#discard) return;
      data = data.subarray(ret);
    }
  };

  readonly #onEnd = (): void => {
    if (!this.#discard) {
      const ret = this.#parser?.finish();
      // A request cut short: answered 400 if it still can be (node does the same).
      if (ret !== undefined && typeof ret !== 'number') return this.#parseError(ret);
    }
    // The client closed its side. As node:http does, that means it left: answers still owed are
    // dropped (their 'close' lets the app stop) rather than written to a client that may be gone.
    this.#last = true;
    this.#startDiscarding();
    if (this.#queue.length > 0) this.#abortQueue();
    if (this.lingerSince === 0) this.#closeSoon();
  };

  readonly #onError = (err: NodeJS.ErrnoException): void => {
    // A reset between requests is how browsers drop idle keep-alive connections; one in the middle
    // of a request is counted with the refusals (a flood of them is an attack like any other).
    if (this.#closed || (this.#current === null && this.#queue.length === 0)) return;
    logClientError(RESET, this.remoteAddress, err.code, this.#current !== null ? 'while the request was read' : 'while the answer was owed');
  };

  readonly #onDrain = (): void => {
    if (this.pendingBytes < OUTPUT_LIMIT) this.#unblock(OUTPUT_BACKED_UP);
    this.#queue[0]?.drained();
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#current?.abandon();
    this.#current = null;
    this.#abortQueue();
    if (this.#parser !== null) releaseParser(this.#parser);
    this.#parser = null;
    this.#ctx.closed(this);
  };

  #block(reason: number): void {
    if (this.#blocked === 0 && !this.#discard) this.#socket.pause();
    this.#blocked |= reason;
  }

  #unblock(reason: number): void {
    if ((this.#blocked & reason) === 0) return;
    this.#blocked &= ~reason;
    if (this.#blocked === 0) this.#socket.resume();
  }

  /** From now on input is read only to see the client close: discarded. */
  #startDiscarding(): void {
    this.#discard = true;
    this.#current?.abandon();
    this.#current = null;
    if (this.#blocked !== 0) {
      this.#blocked = 0;
      this.#socket.resume();
    }
  }

  holdingBody(holding: boolean): void {
    this.#bodyHolders += holding ? 1 : -1;
    if (this.#bodyHolders > 0) this.#block(BODY_HELD);
    else this.#unblock(BODY_HELD);
  }

  // ---- parser events -----------------------------------------------------------

  messageBegin(): void {
    this.#inHead = true;
    this.headStartedAt = Date.now();
    this.idleSince = 0;
  }

  headers(headers: string[], url: string): void {
    // After the head, these are a chunked body's trailers: WSGI has no place for them.
    if (!this.#inHead) return;
    if (this.#partialHeaders === null) this.#partialHeaders = headers;
    else for (const h of headers) this.#partialHeaders.push(h);
    this.#partialUrl += url;
  }

  headersComplete(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.#inHead = false;
    this.headStartedAt = 0;
    const rawHeaders = headers ?? this.#partialHeaders ?? [];
    const target = url ?? this.#partialUrl;
    this.#partialHeaders = null;
    this.#partialUrl = '';
    if (this.#last || this.#discard) {
      this.#startDiscarding();
      return 0;
    }
    const http11 = major === 1 && minor === 1;
    const name = methodName(method);
    const req = new H1Request(name, target, http11 ? '1.1' : minor === 0 ? '1.0' : `${major}.${minor}`, rawHeaders, this, this, name === HEAD_METHOD, major === 1 && minor === 0);
    const res = new H1Response(this, req, keepAlive);
    this.#current = req;
    this.idleSince = 0;
    this.#queue.push(res);
    if (this.#queue.length === 1) res.activate();

    const refusal = refusalOf(method, target, major, minor, rawHeaders);
    if (refusal !== null) return this.#answer(req, res, refusal[0], refusal[1], refusal[2]);
    let expect: string | undefined;
    if (http11) {
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const n = rawHeaders[i]!;
        if (n.length === 6 && isName(n, 'expect')) expect = rawHeaders[i + 1];
      }
    }
    if (upgrade && method === CONNECT) return this.#answer(req, res, 400, 'ERR_CONNECT', 'CONNECT is not supported (a WSGI app cannot tunnel)');
    if (expect === undefined) this.#ctx.handlers.request(req, res);
    else if (CONTINUE_EXPECTED.test(expect)) {
      res.expectContinue = true;
      this.#ctx.handlers.checkContinue(req, res);
    } else {
      // Node's answer to an expectation it cannot meet; the body, if any, is read and dropped.
      req.resume();
      res.writeHead(417, reasonPhrase(417), ['Content-Length', '0']);
      res.end();
    }
    if (!this.#discard && (this.#socket.writableNeedDrain || this.pendingBytes >= OUTPUT_LIMIT)) this.#block(OUTPUT_BACKED_UP);
    return 0;
  }

  body(chunk: Buffer): void {
    this.#current?.push(chunk);
  }

  messageComplete(): void {
    const req = this.#current;
    this.#current = null;
    req?.complete();
    if (this.#last) this.#startDiscarding();
    else if (this.#queue.length === 0) this.idleSince = Date.now();
    else if (this.#socket.writableNeedDrain) this.#block(OUTPUT_BACKED_UP);
  }

  // ---- responses -------------------------------------------------------------

  write(data: Uint8Array | string, cb?: WriteCallback): boolean {
    if (this.#closed) {
      if (cb) process.nextTick(cb, new Error('the connection is closed'));
      return false;
    }
    const ok = typeof data === 'string' ? this.#socket.write(data, 'latin1', cb) : this.#socket.write(data, cb);
    // Between requests (never while a body is read: a client sending its body before reading
    // the answer would wait for us while we wait for it), the client's next requests can wait.
    if (!ok && this.#current === null) this.#block(OUTPUT_BACKED_UP);
    return ok;
  }

  get needsDrain(): boolean {
    return this.#socket.writableNeedDrain;
  }

  get queuedBytes(): number {
    return this.#socket.writableLength;
  }

  cork(): void {
    this.#socket.cork();
  }

  uncork(): void {
    this.#socket.uncork();
  }

  closing(): void {
    this.#last = true;
    if (this.#current === null) this.#startDiscarding();
  }

  /** The active response is complete: the next ones take their turn (those already complete go out under one cork). */
  finished(_res: H1Response): void {
    let corked = false;
    for (;;) {
      const done = this.#queue.shift()!;
      if (done.last) this.#closeSoon();
      done.closed();
      const next = this.#queue[0];
      if (next === undefined) {
        if (this.#last) this.#closeSoon();
        else if (this.#current === null) this.idleSince = Date.now();
        break;
      }
      if (!corked) {
        corked = true;
        this.#socket.cork();
      }
      if (!next.activate()) break;
    }
    if (corked) this.#socket.uncork();
    if (this.pendingBytes < OUTPUT_LIMIT && !this.#socket.writableNeedDrain) this.#unblock(OUTPUT_BACKED_UP);
  }

  /** Half-closes once the answers are out, and waits for the client's side if it may still be sending (see the module comment). */
  #closeSoon(): void {
    if (this.lingerSince !== 0 || this.#closed) return;
    // A head begun, or bytes read and not parsed yet: more may follow. Bytes that come from now on are thrown away, which says the same.
    if (this.headStartedAt !== 0 || this.#socket.readableLength > 0) this.#mayBeSending = true;
    this.#last = true;
    this.#startDiscarding();
    this.#abortQueue();
    // The sweep ends it after LINGER_MS also when the client does not read the answers, so 'finish' never comes.
    this.lingerSince = Date.now();
    this.idleSince = 0;
    this.headStartedAt = 0;
    this.#socket.end();
    // Judged once the answers are out: a handler that answered at once did so before its request's end was parsed.
    this.#socket.once('finish', () => {
      if (!this.#mayBeSending) this.destroy();
    });
  }

  #abortQueue(): void {
    if (this.#queue.length === 0) return;
    for (const res of this.#queue.splice(0)) res.abort();
  }

  /**
   * A request the front answers itself, in its place in the queue, and the
   * connection closes after it (as after any refusal; 417 keeps it, as node).
   */
  #answer(req: H1Request, res: H1Response, status: number, code: string, message: string): number {
    const line = `${status} ${reasonPhrase(status)}`;
    logClientError(line, this.remoteAddress, code, message);
    req.resume();
    const body = Buffer.from(clientErrorBody(line), 'latin1');
    res.shouldKeepAlive = false;
    res.writeHead(status, reasonPhrase(status), ['Content-Type', 'text/plain', 'Content-Length', String(body.length)]);
    res.end(body);
    return 0;
  }

  #parseError(err: ParseError): void {
    this.#mayBeSending = true;
    // Bytes after a request that closes the connection: they are not a request we will serve.
    if (err.code === 'HPE_CLOSED_CONNECTION') {
      this.#startDiscarding();
      return;
    }
    this.#refuse(err.code, `Parse Error: ${err.reason ?? err.message}`);
  }

  /** The request being read cannot be: answer at once if nothing of a response has gone out yet, else cut the connection. */
  #refuse(code: string, message: string): void {
    const status = clientErrorStatus(code);
    const owed = this.#current === null && this.#queue.length > 0;
    this.#last = true;
    this.#startDiscarding();
    if (owed) {
      // Bytes after complete requests whose answers are still owed: those answers go out first
      // (the garbage took none of their framing), then the connection closes without a 400.
      if (status !== null) logClientError(status, this.remoteAddress, code, message);
      return;
    }
    const active = this.#queue[0];
    if (status === null || this.lingerSince !== 0 || !this.#socket.writable || (active !== undefined && active.flushed)) {
      this.destroy();
      return;
    }
    logClientError(status, this.remoteAddress, code, message);
    // Requests still waiting for their answers lose them: their framing is gone with this one's.
    this.#abortQueue();
    this.#socket.write(clientErrorReply(status), 'latin1');
    this.#closeSoon();
  }

  #headersTimedOut(): void {
    this.#mayBeSending = true;
    this.headStartedAt = 0;
    // Answers owed on this connection go out first; then it closes without taking the slow request.
    if (this.#queue.length > 0) {
      this.#last = true;
      this.#startDiscarding();
      return;
    }
    this.#refuse('ERR_HTTP_REQUEST_TIMEOUT', 'Request timeout');
  }
}

