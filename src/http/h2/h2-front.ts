/**
 * HTTP/2 sessions on sockets accepted elsewhere: TLS connections that
 * negotiated `h2` through ALPN, and with --h2c cleartext connections that
 * opened with the HTTP/2 preface. Node's http2 core runs the protocol (a
 * never-listening http2 server takes each socket); every stream is one
 * exchange for the relay (h2-exchange.ts).
 *
 * Limits, from the front's existing ones: at most `maxConcurrentStreams`
 * streams open per connection; a header list over --max-header-size resets
 * its stream; a connection idle for the keep-alive timeout is closed
 * gracefully. Floods: nghttp2 bounds SETTINGS, PING and empty-frame floods
 * and its own stream-reset rate; on top, a connection whose client resets
 * streams before their answer faster than RESET_RATE a second (after a burst
 * of RESET_BURST) is ended with GOAWAY ENHANCE_YOUR_CALM, since every such
 * stream has already cost a trip to the Python worker (CVE-2023-44487,
 * "rapid reset").
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type { FrontHandlers } from '../front.js';
import type { FrontOptions } from '../http-front.js';
import { H2Request, H2Response, type H2Connection } from './h2-exchange.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Streams a client may reset before their answer in one go, and then per second. */
export const RESET_BURST = 200;
export const RESET_RATE = 50;
/** How long a connection sent ENHANCE_YOUR_CALM is still read (and its new streams discarded) before it is cut. */
const LINGER_MS = 1000;
/** Streams per connection at most, whatever the child's capacity (nginx 128, Go 250, h2o 100). */
const MAX_STREAMS_CAP = 128;
/** Header fields per request (pseudo-headers count), node's default is 128. */
const MAX_HEADER_PAIRS = 256;

export interface H2Limits {
  /** Streams one connection may have open at once. */
  maxConcurrentStreams: number;
  /** Bytes of one request's header list (HPACK-decoded, RFC 9113 §6.5.2's measure). */
  maxHeaderListSize: number;
}

/** The child's request capacity as a per-connection stream limit: what it runs plus what it queues, capped. */
export function streamLimit(concurrency: number, maxQueue: number): number {
  return Math.max(1, Math.min(concurrency + maxQueue, MAX_STREAMS_CAP));
}

class Session implements H2Connection {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly tlsEnviron: Readonly<Record<string, string>> | undefined;
  readonly session: http2.ServerHttp2Session;
  readonly socket: net.Socket;
  #tokens = RESET_BURST;
  #refilledAt = Date.now();
  #retired = false;
  #calmed = false;

  constructor(session: http2.ServerHttp2Session, socket: net.Socket, tlsEnviron: Record<string, string> | undefined) {
    this.session = session;
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.tlsEnviron = tlsEnviron;
  }

  /**
   * Graceful GOAWAY in two steps (RFC 9113 §6.8): first with the highest
   * stream id, so requests already on their way are still taken, then, a
   * round trip later (a PING), the real last stream id; streams open then
   * finish before the connection closes.
   */
  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    const s = this.session;
    if (s.closed || s.destroyed) return;
    s.goaway(NGHTTP2_NO_ERROR, 2 ** 31 - 1);
    const close = (): void => {
      if (!s.closed && !s.destroyed) s.close();
    };
    if (!s.ping(close)) close();
  }

  /** Marks the connection as told to calm down; false when it already was (or is gone). */
  calm(): boolean {
    if (this.#calmed || this.session.destroyed) return false;
    this.#calmed = true;
    return true;
  }

  /** A stream the client reset before its answer; false: this client is flooding. */
  spendReset(now: number): boolean {
    this.#tokens = Math.min(RESET_BURST, this.#tokens + ((now - this.#refilledAt) / 1000) * RESET_RATE);
    this.#refilledAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0;
  }
}

export class H2Sessions {
  readonly #server: http2.Http2Server;
  readonly #sessions = new Set<Session>();
  readonly #opts: FrontOptions;
  #adopting: { socket: net.Socket; tlsEnviron: Record<string, string> | undefined } | null = null;
  #draining = false;

  constructor(opts: FrontOptions, handlers: FrontHandlers, limits: H2Limits) {
    this.#opts = opts;
    this.#server = http2.createServer({
      maxHeaderListPairs: MAX_HEADER_PAIRS,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderListSize,
        enablePush: false,
      },
    });
    this.#server.on('session', (session: http2.ServerHttp2Session) => this.#open(session, handlers));
  }

  /**
   * Runs HTTP/2 on `socket`; bytes already read from it must have been
   * unshifted, and it must stay paused: the session takes over the socket's
   * handle and reads the buffered bytes itself.
   */
  adopt(socket: net.Socket, tlsEnviron?: Record<string, string>): void {
    this.#adopting = { socket, tlsEnviron };
    try {
      this.#server.emit('connection', socket);
    } finally {
      this.#adopting = null;
    }
  }

  /** Every connection gets a graceful GOAWAY; connections that arrive later too. */
  goaway(): void {
    this.#draining = true;
    for (const s of this.#sessions) s.retire();
  }

  closeAll(): void {
    for (const s of this.#sessions) s.session.destroy();
  }

  #open(session: http2.ServerHttp2Session, handlers: FrontHandlers): void {
    const adopting = this.#adopting;
    if (adopting === null) {
      session.destroy();
      return;
    }
    const peer = new Session(session, adopting.socket, adopting.tlsEnviron);
    // On the session, not the server: the server's 'stream' comes a tick later, when a reset stream has lost its session.
    session.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) =>
      this.#stream(stream, flags, rawHeaders, peer, handlers),
    );
    this.#sessions.add(peer);
    this.#opts.opened(peer);
    session.on('error', noop);
    session.once('close', () => {
      this.#sessions.delete(peer);
      this.#opts.closed(peer);
    });
    const idle = this.#opts.keepaliveTimeoutMs;
    // No frame either way for the keep-alive timeout: a graceful close (streams still running are not cut).
    if (idle > 0) session.setTimeout(idle, () => peer.retire());
    if (this.#draining) peer.retire();
  }

  /**
   * A stream the client reset before its answer: past the budget, GOAWAY
   * ENHANCE_YOUR_CALM. The session is not destroyed at once: destroy() stops
   * reading, and a client still writing its flood then never gets its write
   * done, so never reads the GOAWAY (node's own client stops reading while a
   * write is pending). For LINGER_MS the connection keeps reading, nghttp2
   * discarding every stream past the GOAWAY's last id, then it is cut
   * whatever the client does.
   */
  #reset(peer: Session): void {
    if (peer.spendReset(Date.now()) || !peer.calm()) return;
    process.stderr.write(`spawning: HTTP/2 client ${peer.remoteAddress ?? ''} reset more than ${RESET_BURST} streams (then ${RESET_RATE}/s) before their answers: GOAWAY ENHANCE_YOUR_CALM\n`);
    peer.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    setTimeout(() => {
      peer.session.destroy();
      peer.socket.destroy();
    }, LINGER_MS).unref();
  }

  #stream(stream: http2.ServerHttp2Stream, flags: number, rawHeaders: string[], peer: Session, handlers: FrontHandlers): void {
    stream.on('error', noop);
    // Reset in the same read as its HEADERS (the rapid-reset pattern): it never reaches the worker, but it counts.
    if (stream.destroyed || stream.closed) {
      this.#reset(peer);
      return;
    }
    const req = new H2Request(stream, rawHeaders, peer, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    const res = new H2Response(stream, peer, req.method === 'HEAD');
    stream.once('close', () => {
      if (!res.writableFinished && stream.rstCode !== NGHTTP2_NO_ERROR) this.#reset(peer);
    });
    if (req.method === 'CONNECT' || req.url === '') {
      res.shouldKeepAlive = true;
      const body = Buffer.from('CONNECT is not supported (a WSGI app cannot tunnel)\n');
      res.writeHead(400, 'Bad Request', ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length)]);
      res.end(body);
      return;
    }
    if (/(?:^|\W)100-continue(?:$|\W)/i.test(req.headers.expect ?? '')) handlers.checkContinue(req, res);
    else handlers.request(req, res);
  }
}

function noop(): void {}
