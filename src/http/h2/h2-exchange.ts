/**
 * One HTTP/2 stream as the relay sees an exchange: an H2Request and an
 * H2Response over node's ServerHttp2Stream (its core API, not the
 * compatibility layer), satisfying FrontRequest and FrontResponse.
 *
 * The request's header list is the stream's, pseudo-headers left out and
 * `:authority` given as `host`, so the environ maps names exactly as it does
 * for HTTP/1.1. Bodies stream under HTTP/2 flow control both ways: pausing
 * the request stops node from consuming, so no WINDOW_UPDATE goes out, and
 * a write that returns false waits for the peer's window ('drain').
 */
import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { FrontPeer, FrontRequest, FrontResponse } from '../front.js';

/** HTTP/1.1 connection-specific fields, which HTTP/2 forbids (RFC 9113 §8.2.2): dropped from the app's headers. */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** What an exchange needs of its connection. */
export interface H2Connection extends FrontPeer {
  /** This connection should end after the streams it has: a graceful GOAWAY. */
  retire(): void;
}

export class H2Request implements FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion = '2.0';
  readonly rawHeaders: string[];
  readonly socket: H2Connection;
  /** The HEADERS frame did not end the stream: a body follows, of a length Content-Length may or may not give. */
  readonly hasBody: boolean;
  readonly #stream: http2.ServerHttp2Stream;
  #headers: IncomingHttpHeaders | undefined;

  constructor(stream: http2.ServerHttp2Stream, raw: string[], peer: H2Connection, endStream: boolean) {
    this.#stream = stream;
    this.socket = peer;
    this.hasBody = !endStream;
    let method = 'GET';
    let path = '';
    let authority: string | undefined;
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.charCodeAt(0) === 58 /* : */) {
        if (name === ':method') method = raw[i + 1]!;
        else if (name === ':path') path = raw[i + 1]!;
        else if (name === ':authority') authority = raw[i + 1]!;
        continue;
      }
      // :authority stands for Host (RFC 9113 §8.3.1); a host field beside it would make two.
      if (authority !== undefined && name === 'host') continue;
      headers.push(name, raw[i + 1]!);
    }
    if (authority !== undefined) {
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i] === 'host') {
          headers.splice(i, 2);
          i -= 2;
        }
      }
      headers.unshift('host', authority);
    }
    this.method = method;
    this.url = path;
    this.rawHeaders = headers;
  }

  get headers(): IncomingHttpHeaders {
    if (this.#headers !== undefined) return this.#headers;
    const out: Record<string, string | string[]> = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const prev = out[name];
      if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = prev + (name === 'cookie' ? '; ' : ', ') + value;
    }
    return (this.#headers = out as IncomingHttpHeaders);
  }

  get readableEnded(): boolean {
    return this.#stream.readableEnded;
  }

  on(event: 'data' | 'end', listener: (chunk: Buffer) => void): this {
    this.#stream.on(event, listener);
    return this;
  }

  removeAllListeners(event: 'data'): this {
    this.#stream.removeAllListeners(event);
    return this;
  }

  pause(): this {
    this.#stream.pause();
    return this;
  }

  resume(): this {
    this.#stream.resume();
    return this;
  }
}

export class H2Response implements FrontResponse {
  statusCode = 200;
  /** False: the connection is retired (GOAWAY) once its streams are done. */
  shouldKeepAlive = true;
  headersSent = false;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #peer: H2Connection;
  readonly #head: boolean;
  /** HEAD, 204, 205, 304: node ends the stream with the headers, and body writes are dropped. */
  #noBody = false;
  /** end() was called. The stream's own writableFinished is true after a reset as well. */
  #ended = false;

  constructor(stream: http2.ServerHttp2Stream, peer: H2Connection, head: boolean) {
    this.#stream = stream;
    this.#peer = peer;
    this.#head = head;
  }

  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  get writableFinished(): boolean {
    return this.#ended && this.#stream.writableFinished;
  }

  /** A 103 before the final headers: HTTP/2 sends informational responses as extra HEADERS frames on the stream. */
  writeEarlyHints(hints: Record<string, string | string[]>, callback?: () => void): void {
    if (this.headersSent || this.#stream.destroyed) return;
    const headers: http2.OutgoingHttpHeaders = { ':status': 103 };
    for (const [name, value] of Object.entries(hints)) headers[name.toLowerCase()] = value;
    this.#stream.additionalHeaders(headers);
    callback?.();
  }

  writeHead(statusCode: number, _reason: string, headers: string[]): this {
    if (this.headersSent) throw new Error('the response head was sent already');
    if (this.#stream.destroyed) {
      // The client reset the stream: nothing to send, and nothing wrong with the app's answer.
      this.statusCode = statusCode;
      this.headersSent = true;
      return this;
    }
    // HTTP/2 has no reason phrase; 1xx heads go through writeContinue.
    if (statusCode < 200 || statusCode > 999) throw new RangeError(`invalid status code ${statusCode} for an HTTP/2 response`);
    const out: OutgoingHttpHeaders = { ':status': statusCode };
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      if (CONNECTION_FIELDS.has(name)) continue;
      const value = headers[i + 1]!;
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = [String(prev), value];
    }
    const noBody = this.#head || statusCode === 204 || statusCode === 205 || statusCode === 304;
    // Throws on a field name or value HTTP/2 cannot carry, before anything is sent.
    this.#stream.respond(out);
    // Node ends such a stream with its HEADERS: the response is whole now, whatever the app still sends.
    this.#noBody = this.#ended = noBody;
    this.statusCode = statusCode;
    this.headersSent = true;
    if (!this.shouldKeepAlive) this.#peer.retire();
    return this;
  }

  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean {
    if (this.#noBody || this.#stream.destroyed) {
      if (callback) process.nextTick(callback);
      return true;
    }
    return this.#stream.write(chunk, callback);
  }

  end(chunk?: Uint8Array): this {
    const stream = this.#stream;
    this.#ended = true;
    if (stream.destroyed || stream.writableEnded) return this;
    if (this.#noBody || chunk === undefined || chunk.length === 0) stream.end();
    else stream.end(chunk);
    return this;
  }

  writeContinue(): void {
    if (!this.#stream.destroyed) this.#stream.additionalHeaders({ ':status': 100 });
  }

  destroy(): this {
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_INTERNAL_ERROR);
    return this;
  }

  on(event: 'close', listener: () => void): this {
    this.#stream.on(event, listener);
    return this;
  }

  once(event: 'drain', listener: () => void): this {
    this.#stream.once(event, listener);
    return this;
  }
}
