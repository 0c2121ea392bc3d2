/**
 * One response of the lean front (FrontResponse).
 *
 * The head is built by writeHead() but leaves with the first body bytes (or
 * end()), in the same socket write when they are small. Pipelined responses
 * wait their turn: until every earlier response on the connection has
 * finished, what this one writes is kept here, with its callbacks, and goes
 * out when it becomes the connection's active response. Write callbacks run
 * once the bytes were handed to the kernel, which is what paces a slow client.
 */
import type { FrontResponse } from '../front.js';
import { reasonPhrase } from '../front.js';
import { buildEarlyHints, buildHead, type HeadRequest } from './response-head.js';

export type WriteCallback = (err?: Error | null) => void;

/** What a response needs of its connection. */
export interface ResponseSink {
  /** `Keep-Alive: timeout=N\r\n`, or ''. */
  readonly keepAliveHeader: string;
  /** Writes to the socket (only the active response calls it). */
  write(data: Uint8Array | string, cb?: WriteCallback): boolean;
  cork(): void;
  uncork(): void;
  /** The active response wrote its last bytes. */
  finished(res: H1Response): void;
  /** A response that will close the connection has its head: no more requests are read. */
  closing(): void;
  /** Output waiting in responses that are not active yet, in bytes. */
  pendingBytes: number;
  /** The socket's buffer is past its high-water mark: 'drain' will come. */
  readonly needsDrain: boolean;
  /** Bytes written to the socket that the kernel has not taken yet. */
  readonly queuedBytes: number;
  destroy(): void;
}

/** Bodies up to this size are copied behind the head into one buffer (one write): a small copy, from Buffer's shared pool when the whole fits in 4 KB. */
const COPY_ALWAYS = 4 * 1024;
/**
 * Bodies up to this size are copied too when they would wait (the socket has
 * output queued, or the response is pipelined behind another): a waiting body
 * is often a view of a read from the worker channel, up to 64 KB, which it
 * would keep alive. One that leaves at once goes out beside the head (writev),
 * without a copy of its own: copying each 10 KB body cost a front 12-21 MB of
 * RSS that glibc kept after the load (BENCHMARKS.md, session 24).
 * Larger bodies always go out beside the head.
 */
const COPY_LIMIT = 16 * 1024;
/** A response that is not active yet asks for 'drain' past this much waiting output. */
const PENDING_LIMIT = 64 * 1024;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

const errorClosed = (): Error => Object.assign(new Error('the connection closed before the response was sent'), { code: 'ERR_STREAM_DESTROYED' });

export class H1Response implements FrontResponse {
  statusCode = 200;
  shouldKeepAlive: boolean;
  headersSent = false;
  destroyed = false;
  writableFinished = false;
  /** The connection closes after this response. */
  last = false;
  /** `Expect: 100-continue` was asked; a final status without 100 first closes the connection (node does too). */
  expectContinue = false;
  /** Bytes of this response went to the socket (a 100 Continue does not count): no other answer can go before it now. */
  flushed = false;
  /** Body bytes taken (cut at the Content-Length), whether they left yet or wait their turn. */
  bodyBytes = 0;
  /** Body bytes the Content-Length still allows; -1: no length to keep to. */
  #remaining = -1;
  readonly #sink: ResponseSink;
  readonly #req: HeadRequest;
  #active = false;
  /** The head, until it leaves with the first bytes after it. */
  #head: string | null = null;
  #hasBody = true;
  #chunked = false;
  #ended = false;
  #sent100 = false;
  #needDrain = false;
  #destroyWhenActive = false;
  #pending: Array<Uint8Array | string> | null = null;
  #pendingCallbacks: Array<WriteCallback | undefined> | null = null;
  /** The relay's listener; a second one (a file being sent) goes to #moreOnClose. */
  #onClose: (() => void) | null = null;
  #moreOnClose: Array<() => void> | null = null;
  #onDrain: Array<() => void> | null = null;

  constructor(sink: ResponseSink, req: HeadRequest, keepAlive: boolean) {
    this.#sink = sink;
    this.#req = req;
    this.shouldKeepAlive = keepAlive;
  }

  writeHead(statusCode: number, reason: string, headers: string[]): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    if (this.expectContinue && !this.#sent100) this.shouldKeepAlive = false;
    const head = buildHead(statusCode, reason, headers, this.#req, this.shouldKeepAlive, this.#sink.keepAliveHeader);
    this.statusCode = statusCode;
    this.headersSent = true;
    this.#head = head.text;
    this.#hasBody = head.hasBody;
    this.#chunked = head.chunked;
    this.#remaining = head.length;
    if (head.last) {
      this.last = true;
      this.#sink.closing();
    }
    return this;
  }

  write(chunk: Uint8Array, callback?: WriteCallback): boolean {
    if (this.#ended || this.destroyed) {
      if (callback) process.nextTick(callback, errorClosed());
      return false;
    }
    if (!this.headersSent) this.writeHead(this.statusCode, reasonPhrase(this.statusCode), []);
    if (this.#remaining >= 0 && chunk.length > this.#remaining) chunk = chunk.subarray(0, this.#remaining);
    if (!this.#hasBody || chunk.length === 0) {
      // No body may follow (HEAD, 204, 304), or none past the Content-Length: the bytes are
      // dropped, as gunicorn drops them. (An empty chunk would end a chunked body.)
      if (callback) process.nextTick(callback);
      return true;
    }
    if (this.#remaining >= 0) this.#remaining -= chunk.length;
    this.bodyBytes += chunk.length;
    const ok = this.#chunked ? this.#emit(`${chunk.length.toString(16)}\r\n`, chunk, CRLF, callback) : this.#emit('', chunk, '', callback);
    if (!ok) this.#needDrain = true;
    return ok;
  }

  end(chunk?: Uint8Array): this {
    if (this.#ended || this.destroyed) return this;
    if (!this.headersSent) {
      const length = chunk === undefined ? 0 : chunk.length;
      const status = this.statusCode;
      const bodiless = this.#req.isHead || status === 204 || status === 304 || status < 200;
      this.writeHead(status, reasonPhrase(status), bodiless ? [] : ['Content-Length', String(length)]);
    }
    this.#ended = true;
    let body = this.#hasBody && chunk !== undefined && chunk.length > 0 ? chunk : null;
    if (body !== null && this.#remaining >= 0) {
      if (body.length > this.#remaining) body = body.subarray(0, this.#remaining);
      this.#remaining -= body.length;
    }
    if (body !== null) this.bodyBytes += body.length;
    // Shorter than its Content-Length: the client would wait for the rest until a timeout. Closing
    // the connection tells it at once that the body is incomplete.
    if (this.#remaining > 0) this.#closeAfter();
    if (this.#chunked) {
      if (body === null) this.#emit(LAST_CHUNK, null, '', undefined);
      else this.#emit(`${body.length.toString(16)}\r\n`, body, `\r\n${LAST_CHUNK}`, undefined);
    } else {
      this.#emit('', body, '', undefined);
    }
    if (this.#active) this.#done();
    return this;
  }

  truncate(): void {
    if (this.#ended || this.destroyed) return;
    this.#ended = true;
    this.#closeAfter();
    // The head, if it has not left yet; a chunked body gets no last chunk, so the client sees it cut.
    this.#emit('', null, '', undefined);
    if (this.#active) this.#done();
  }

  /** The connection closes once this response is out. */
  #closeAfter(): void {
    if (this.last) return;
    this.last = true;
    this.#sink.closing();
  }

  writeContinue(): void {
    if (this.headersSent || this.#sent100) return;
    this.#sent100 = true;
    this.#out(CONTINUE, undefined);
  }

  writeEarlyHints(hints: Record<string, string | string[]>, callback?: () => void): void {
    if (this.headersSent || this.#ended || this.destroyed || this.#req.http10) {
      if (callback) process.nextTick(callback);
      return;
    }
    const text = buildEarlyHints(hints);
    this.#out(text, callback);
  }

  destroy(): this {
    if (this.destroyed) return this;
    if (this.#active) this.#sink.destroy();
    else this.#destroyWhenActive = true;
    return this;
  }

  on(event: 'close', listener: () => void): this {
    if (event !== 'close') return this;
    if (this.#onClose === null) this.#onClose = listener;
    else (this.#moreOnClose ??= []).push(listener);
    return this;
  }

  once(event: 'drain', listener: () => void): this {
    if (event === 'drain') (this.#onDrain ??= []).push(listener);
    return this;
  }

  /** It is this response's turn on the connection: what waited goes out. True when that was all of it (the connection moves on). */
  activate(): boolean {
    this.#active = true;
    if (this.#destroyWhenActive) {
      this.#sink.destroy();
      return false;
    }
    const pending = this.#pending;
    if (pending !== null) {
      const callbacks = this.#pendingCallbacks!;
      this.#pending = this.#pendingCallbacks = null;
      for (let i = 0; i < pending.length; i++) {
        const data = pending[i]!;
        this.#sink.pendingBytes -= data.length;
        this.#sink.write(data, callbacks[i]);
      }
      this.flushed = true;
      // It asked for 'drain' while it waited; if the socket has room, no 'drain' will come to say so.
      if (this.#needDrain && !this.#sink.needsDrain) process.nextTick(() => this.drained());
    }
    if (!this.#ended) return false;
    this.writableFinished = true;
    this.destroyed = true;
    return true;
  }

  /** The socket drained: a writer waiting for 'drain' may go on. */
  drained(): void {
    if (!this.#needDrain) return;
    this.#needDrain = false;
    const listeners = this.#onDrain;
    this.#onDrain = null;
    if (listeners !== null) for (const listener of listeners) listener();
  }

  /** Finished and off the connection's queue: 'close' for its listeners. */
  closed(): void {
    this.#emitClose();
  }

  /** The connection closed before this response finished: it is dropped, its waiting callbacks fail. */
  abort(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const callbacks = this.#pendingCallbacks;
    if (this.#pending !== null) for (const data of this.#pending) this.#sink.pendingBytes -= data.length;
    this.#pending = this.#pendingCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) if (cb) process.nextTick(cb, errorClosed());
    this.#emitClose();
  }

  #emitClose(): void {
    this.#onClose?.();
    const more = this.#moreOnClose;
    this.#moreOnClose = null;
    if (more !== null) for (const listener of more) listener();
  }

  #done(): void {
    this.writableFinished = true;
    this.destroyed = true;
    this.#sink.finished(this);
  }

  #takeHead(): string {
    const head = this.#head!;
    this.#head = null;
    return head;
  }

  /**
   * Writes `prefix`, `body` and `suffix` (chunk framing), behind the head if it has not left yet:
   * small bodies (and middling ones that would wait) as one buffer, the others as separate
   * writes under one cork (a writev).
   * False: the output is backed up (see write()).
   */
  #emit(prefix: string, body: Uint8Array | null, suffix: string, cb: WriteCallback | undefined): boolean {
    if (this.#head !== null) prefix = this.#takeHead() + prefix;
    if (body === null) {
      const text = prefix + suffix;
      if (text.length > 0) return this.#out(text, cb);
      if (cb) process.nextTick(cb);
      return true;
    }
    if (body.length <= COPY_ALWAYS || (body.length <= COPY_LIMIT && (!this.#active || this.#sink.queuedBytes > 0))) {
      const buf = Buffer.allocUnsafe(prefix.length + body.length + suffix.length);
      let at = prefix.length > 0 ? buf.write(prefix, 0, 'latin1') : 0;
      buf.set(body, at);
      at += body.length;
      if (suffix.length > 0) buf.write(suffix, at, 'latin1');
      return this.#out(buf, cb);
    }
    const corked = this.#active;
    if (corked) this.#sink.cork();
    if (prefix.length > 0) this.#out(prefix, undefined);
    const ok = suffix.length > 0 ? (this.#out(body, undefined), this.#out(suffix, cb)) : this.#out(body, cb);
    if (corked) this.#sink.uncork();
    return ok;
  }

  #out(data: Uint8Array | string, cb: WriteCallback | undefined): boolean {
    if (this.#active) {
      if (data !== CONTINUE) this.flushed = true;
      return this.#sink.write(data, cb);
    }
    (this.#pending ??= []).push(data);
    (this.#pendingCallbacks ??= []).push(cb);
    this.#sink.pendingBytes += data.length;
    return this.#sink.pendingBytes < PENDING_LIMIT;
  }
}
