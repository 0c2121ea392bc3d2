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
import { H1Connection, type ConnectionContext } from './h1-connection.js';

/** Node's margin past the advertised keep-alive timeout. */
const KEEPALIVE_GRACE_MS = 1000;

/** How often the timeouts are checked: a tenth of the shortest one, within 100 ms to 1 s. */
function sweepInterval(opts: FrontOptions): number {
  const shortest = Math.min(...[opts.headersTimeoutMs, opts.keepaliveTimeoutMs].filter((ms) => ms > 0), 10_000);
  return Math.max(100, Math.min(1000, Math.floor(shortest / 10)));
}

/** The front on a net.Server not listening yet (tests listen on a port of their own). */
export function createH1Server(opts: FrontOptions, handlers: FrontHandlers): { server: net.Server; front: Front } {
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
  // allowHalfOpen: a client that ends its side after sending still gets its answers.
  const serve = (socket: net.Socket): void => {
    const conn = new H1Connection(socket, ctx);
    connections.add(conn);
    opts.opened(conn);
  };
  const accepted = opts.accepted;
  // pauseOnConnect when another party decides when a connection is read: until then it can still be sent elsewhere.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, keepAlive: opts.tcpKeepAlive, pauseOnConnect: accepted !== undefined }, accepted ?? serve);
  const idleTimeoutMs = opts.keepaliveTimeoutMs > 0 ? opts.keepaliveTimeoutMs + KEEPALIVE_GRACE_MS : 0;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const conn of connections) conn.checkTimeouts(now, opts.headersTimeoutMs, idleTimeoutMs);
  }, sweepInterval(opts));
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
  const front: Front = {
    // Open connections stay: a request already on its way over an idle keep-alive connection is
    // answered (with Connection: close, the relay sees to that) instead of lost; they end at their keep-alive timeout.
    stopAccepting: () => void server.close(),
    closeAll: () => {
      for (const conn of connections) conn.destroy();
    },
    adopt: serve,
  };
  return { server, front };
}

/** The front, accepting on `fd` (the controller's listening socket). */
export function listenH1(fd: number, opts: FrontOptions, handlers: FrontHandlers): Front {
  const { server, front } = createH1Server(opts, handlers);
  // The backlog as an argument: Node reads `backlog` from the options only for ports and paths,
  // and with `{fd}` alone it would call listen(2) again with 511, shrinking the controller's backlog.
  server.listen({ fd }, opts.backlog);
  return front;
}
