/**
 * The child's front on node:http (`SPAWNING_FRONT=node`): the server the
 * child used before the lean engine in `h1/`, kept so the two can be
 * measured against each other. Node's IncomingMessage and ServerResponse
 * already satisfy FrontRequest and FrontResponse.
 */
import http from 'node:http';
import net from 'node:net';
import type stream from 'node:stream';
import { clientErrorReply, clientErrorStatus, logClientError } from './client-error.js';
import type { Front, FrontHandlers } from './front.js';
import type { FrontOptions } from './http-front.js';
import { acceptProxied } from './proxy-protocol.js';

function onClientError(err: NodeJS.ErrnoException, socket: stream.Duplex): void {
  const status = clientErrorStatus(err.code);
  if (status === null || !socket.writable) {
    socket.destroy();
    return;
  }
  logClientError(status, (socket as net.Socket).remoteAddress, err.code, err.message);
  socket.end(clientErrorReply(status));
}

export function listenNodeFront(fd: number, opts: FrontOptions, handlers: FrontHandlers): Front {
  const server = http.createServer({ maxHeaderSize: opts.maxHeaderSize, requestTimeout: 0, keepAlive: opts.tcpKeepAliveIdleMs > 0, keepAliveInitialDelay: opts.tcpKeepAliveIdleMs }, handlers.request);
  server.headersTimeout = opts.headersTimeoutMs;
  server.keepAliveTimeout = opts.keepaliveTimeoutMs;
  server.on('checkContinue', handlers.checkContinue);
  server.on('connection', (socket: net.Socket) => {
    opts.opened(socket);
    socket.once('close', () => opts.closed(socket));
  });
  server.on('clientError', onClientError);
  // The backlog as an argument: Node reads `backlog` from the options only for ports and paths,
  // and with `{fd}` alone it would call listen(2) again with 511, shrinking the controller's backlog.
  // With --proxy-protocol a net.Server accepts and hands each socket to the HTTP server once its header is read.
  const listener = opts.proxyProtocol ? net.createServer({ allowHalfOpen: true }, acceptProxied(opts.proxyProtocol, (socket) => server.emit('connection', socket))) : server;
  listener.listen({ fd }, opts.backlog);
  return {
    // net.Server's close, not http.Server's: stop accepting but leave idle keep-alive
    // connections open, so a request already on its way over one is answered (with
    // Connection: close) instead of lost; they end at their keep-alive timeout.
    stopAccepting: () => void net.Server.prototype.close.call(listener),
    closeAll: () => server.closeAllConnections(),
  };
}
