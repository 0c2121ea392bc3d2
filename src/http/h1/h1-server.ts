/**
 * The lean HTTP/1.1 front: a `net` server on the inherited listening socket,
 * one H1Connection per client, and one sweep for every timeout.
 *
 * Timeouts are checked by a single interval over the open connections
 * instead of a timer per socket: the headers timeout (408) from the moment a
 * head starts to arrive (a new connection counts, as in node), the keep-alive
 * timeout from the moment a connection goes idle, and the linger of a
 * half-closed one. The keep-alive timeout is enforced one second after the
 * one advertised in `Keep-Alive: timeout=N`, as node:http does, so a client
 * that reuses a connection just before the advertised deadline does not race
 * its close.
 */
import net from 'node:net';
import type { Front, FrontHandlers } from '../front.js';
import type { FrontOptions } from '../http-front.js';
import type { H2Sessions } from '../h2/h2-front.js';
import { acceptProxied } from '../proxy-protocol.js';
import { H1Connection, type ConnectionContext } from './h1-connection.js';

/** Node's margin past the advertised keep-alive timeout. */
const KEEPALIVE_GRACE_MS = 1000;

/** How often the timeouts are checked: a tenth of the shortest one, within 100 ms to 1 s. */
function sweepInterval(opts: FrontOptions): number {
  const shortest = Math.min(...[opts.headersTimeoutMs, opts.keepaliveTimeoutMs].filter((ms) => ms > 0), 10_000);
  return Math.max(100, Math.min(1000, Math.floor(shortest / 10)));
}

/**
 * HTTP/1.1 connections and their timeout sweep, for sockets accepted
 * elsewhere: the cleartext server below, or the TLS front for connections
 * that negotiated http/1.1.
 */
export interface H1Engine {
  /** Serves HTTP/1.1 on `socket` (a net.Socket or a TLSSocket); `decorate` runs before it is counted as opened. */
  adopt(socket: net.Socket, decorate?: (conn: H1Connection) => void): H1Connection;
  closeAll(): void;
  /** Stops the sweep (the server closed). */
  stop(): void;
}

export function createH1Engine(opts: FrontOptions, handlers: FrontHandlers): H1Engine {
  const connections = new Set<H1Connection>();
  const ctx: ConnectionContext = {
    handlers,
    maxHeaderSize: opts.maxHeaderSize,
    keepAliveHeader: opts.keepaliveTimeoutMs >= 1000 ? `Keep-Alive: timeout=${Math.floor(opts.keepaliveTimeoutMs / 1000)}\r\n` : '',
    closed: (conn) => {
      connections.delete(conn);
      opts.closed(conn);
    },
  };
  const idleTimeoutMs = opts.keepaliveTimeoutMs > 0 ? opts.keepaliveTimeoutMs + KEEPALIVE_GRACE_MS : 0;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const conn of connections) conn.checkTimeouts(now, opts.headersTimeoutMs, idleTimeoutMs);
  }, sweepInterval(opts));
  sweep.unref();
  return {
    adopt(socket, decorate) {
      const conn = new H1Connection(socket, ctx);
      decorate?.(conn);
      connections.add(conn);
      opts.opened(conn);
      return conn;
    },
    closeAll() {
      for (const conn of connections) conn.destroy();
    },
    stop: () => clearInterval(sweep),
  };
}

/** The front on a net.Server not listening yet (tests listen on a port of their own). */
export function createH1Server(opts: FrontOptions, handlers: FrontHandlers): { server: net.Server; front: Front } {
  const engine = createH1Engine(opts, handlers);
  // --h2c: a connection that opens with the HTTP/2 preface goes to the HTTP/2 front instead.
  const h2c = opts.h2c;
  // allowHalfOpen: a client that ends its side after sending still gets its answers.
  const serve = h2c === undefined ? (socket: net.Socket) => void engine.adopt(socket) : (socket: net.Socket) => sniffPreface(socket, engine, h2c, opts.headersTimeoutMs || 30_000);
  // Another party decides when an accepted connection is read (connection-handoff.ts): it arrives paused,
  // so it can still be sent to another front. The child offers that only without --h2c and --proxy-protocol.
  const accepted = opts.accepted;
  const onConnection = accepted ?? serve;
  // --proxy-protocol: the PROXY header comes off the socket before HTTP/1.1 or the HTTP/2 preface is looked at.
  const server = net.createServer(
    { allowHalfOpen: true, noDelay: true, keepAlive: opts.tcpKeepAliveIdleMs > 0, keepAliveInitialDelay: opts.tcpKeepAliveIdleMs, pauseOnConnect: accepted !== undefined },
    opts.proxyProtocol ? acceptProxied(opts.proxyProtocol, onConnection) : onConnection,
  );
  server.once('close', () => engine.stop());
  const front: Front = {
    // Open connections stay: a request already on its way over an idle keep-alive connection is
    // answered (with Connection: close, the relay sees to that) instead of lost; they end at their keep-alive timeout.
    stopAccepting: () => {
      server.close();
      h2c?.goaway();
    },
    closeAll: () => {
      engine.closeAll();
      h2c?.closeAll();
    },
    adopt: serve,
  };
  return { server, front };
}

/** The client preface's first bytes: `PRI * HTTP/2.0`. No HTTP/1.1 method is PRI. */
function isH2Preface(chunk: Buffer): boolean {
  return chunk.length >= 3 && chunk[0] === 0x50 && chunk[1] === 0x52 && chunk[2] === 0x49;
}

/** Reads the first bytes of a cleartext connection, puts them back, and hands the socket to HTTP/2 or HTTP/1.1. */
function sniffPreface(socket: net.Socket, engine: H1Engine, h2c: H2Sessions, timeoutMs: number): void {
  socket.on('error', noop);
  // Not yet in the engine's sweep: a client that connects and says nothing is cut at the headers timeout here.
  socket.setTimeout(timeoutMs, () => socket.destroy());
  socket.once('data', (chunk: Buffer) => {
    socket.setTimeout(0);
    socket.removeListener('error', noop);
    socket.pause();
    socket.unshift(chunk);
    if (isH2Preface(chunk)) h2c.adopt(socket);
    else {
      engine.adopt(socket);
      socket.resume();
    }
  });
}

function noop(): void {}

/** The front, accepting on `fd` (the controller's listening socket). */
export function listenH1(fd: number, opts: FrontOptions, handlers: FrontHandlers): Front {
  const { server, front } = createH1Server(opts, handlers);
  // The backlog as an argument: Node reads `backlog` from the options only for ports and paths,
  // and with `{fd}` alone it would call listen(2) again with 511, shrinking the controller's backlog.
  server.listen({ fd }, opts.backlog);
  return front;
}
