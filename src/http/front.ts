/**
 * What the child's request handling (the relay, the environ, the coverage
 * report, the connection balance) needs of an HTTP exchange, and no more.
 *
 * Two fronts implement it: the lean HTTP/1.1 engine in `h1/` (the default),
 * and node:http, whose IncomingMessage and ServerResponse satisfy these
 * interfaces as they are (`SPAWNING_FRONT=node`, kept for A/B measurements).
 * Names and semantics follow node's objects, so either can be passed
 * without an adapter; the optional members are optional because node's
 * typings declare them so.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TlsMaterial } from '../../protocol/control-messages.js';
import type net from 'node:net';

/** The client's end of a connection. Also its identity: the connection balance marks connections by it. */
export interface FrontPeer {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** Over TLS: the connection's HTTPS and SSL_* environ keys (tls.ts `tlsEnviron`); absent in cleartext. */
  readonly tlsEnviron?: Readonly<Record<string, string>> | undefined;
}

export interface FrontRequest {
  readonly method?: string | undefined;
  /** The request target as sent. */
  readonly url?: string | undefined;
  /** `1.1`, `1.0`. */
  readonly httpVersion: string;
  /** Names and values alternating, as received (duplicates kept). */
  readonly rawHeaders: string[];
  /** Lower-cased names, duplicates joined as node joins them. Built on first use: the hot path reads the environ instead. */
  readonly headers: IncomingHttpHeaders;
  readonly socket: FrontPeer;
  /** HTTP/2 knows from END_STREAM whether a body follows; absent: Content-Length and Transfer-Encoding tell. */
  readonly hasBody?: boolean | undefined;
  /** Every body byte was delivered (or discarded) and 'end' was emitted. */
  readonly readableEnded: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  removeAllListeners(event: 'data'): unknown;
  /** Stop delivering body chunks; reading from the client stops once a little is buffered. */
  pause(): unknown;
  /** Deliver body chunks again; with no 'data' listener they are discarded. */
  resume(): unknown;
}

export interface FrontResponse {
  statusCode: number;
  /** False: this response closes its connection (`Connection: close`). Read when the head is written. */
  shouldKeepAlive: boolean;
  /** writeHead() was called. */
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  /** end() was called and the whole response was handed to the connection. */
  readonly writableFinished: boolean;
  /** Throws, as node does, on a status, reason or header it must not send; nothing is written then. */
  writeHead(statusCode: number, reason: string, headers: string[]): unknown;
  /** `callback` runs once `chunk` was handed to the kernel. False: buffered past the high-water mark, wait for 'drain'. */
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
  end(chunk?: Uint8Array): unknown;
  /** `HTTP/1.1 100 Continue`, for a request that expects it. */
  writeContinue(): void;
  /**
   * A `103 Early Hints` response with these headers (lower-case names; a list repeats the field),
   * before the final one. Node's signature (ServerResponse and Http2ServerResponse both have it);
   * node's HTTP/1.1 version sends nothing without a `link` hint.
   */
  writeEarlyHints(hints: Record<string, string | string[]>, callback?: () => void): void;
  /** Aborts the connection: for a response that cannot be completed. */
  destroy(): unknown;
  /**
   * Ends the response where it is, short of what its head promised: what was
   * written still goes out, then the connection closes, so the client sees a
   * truncated body rather than nothing. Node's ServerResponse lacks it
   * (`cutShort` destroys one instead).
   */
  truncate?(): void;
  /** Body bytes handed to the connection, after any cut at the Content-Length. Node's ServerResponse does not count them. */
  readonly bodyBytes?: number;
  /** 'close': the response is done, or its connection closed first (then writableFinished is false). Once per response. */
  on(event: 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

export type FrontHandler = (req: FrontRequest, res: FrontResponse) => void;

export interface FrontHandlers {
  request: FrontHandler;
  /** `Expect: 100-continue` (HTTP/1.1): the handler decides whether to say continue. */
  checkContinue: FrontHandler;
}

export interface Front {
  /** Stops accepting; open connections stay (see `stopAccepting` in the child). */
  stopAccepting(): void;
  /** Closes every connection at once (a deadman kill). */
  closeAll(): void;
  /** With TLS: new connections get this certificate and key; open ones keep theirs. */
  setMaterial?(material: TlsMaterial): void;
  /** Serves a connection accepted paused (`FrontOptions.accepted`) or sent by another front; the caller resumes it. */
  adopt?(socket: net.Socket): void;
}

/** Reason phrases (RFC 9110) for the statuses the child answers itself. */
const REASONS: Record<number, string> = {
  100: 'Continue',
  103: 'Early Hints',
  200: 'OK',
  302: 'Found',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** Ends a response whose head already left, as short as it is (see `truncate`). */
export function cutShort(res: FrontResponse): void {
  if (res.truncate !== undefined && !res.destroyed) res.truncate();
  else res.destroy();
}
