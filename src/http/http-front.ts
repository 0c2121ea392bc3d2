/**
 * The child's HTTP/1.1 front: a node:http server on the inherited listening
 * socket, handing every request to the relay. It answers what Node's parser
 * refuses itself, and counts open connections for the connection balance.
 */
import http from 'node:http';
import net from 'node:net';
import type stream from 'node:stream';
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { ConnectionBalance } from './connection-balance.js';
import { withCoverageReport } from './coverage-report.js';
import type { RequestRelay } from './request-relay.js';

export interface Front {
  /** Stops accepting; open connections stay (see `stopAccepting` in the child). */
  stopAccepting(): void;
  /** Closes every connection at once (a deadman kill). */
  closeAll(): void;
}

/** Status line for a request Node's parser rejected; null when there is no one to answer. */
function clientErrorStatus(code: string | undefined): string | null {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return '408 Request Timeout';
    default:
      return '400 Bad Request';
  }
}

function onClientError(err: NodeJS.ErrnoException, socket: stream.Duplex): void {
  const status = clientErrorStatus(err.code);
  if (status === null || !socket.writable) {
    socket.destroy();
    return;
  }
  const peer = (socket as net.Socket).remoteAddress ?? 'unix socket';
  process.stderr.write(`spawning: child ${process.pid}: ${status.slice(0, 3)} for ${peer}: ${err.code ?? 'HTTP_PARSE'} ${err.message}\n`);
  const body = `${status.slice(4)}\n`;
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
}

/** Accepts on `fd` (the controller's socket) with `config.backlog`; `onClosed` runs after each connection ends. */
export function listenFront(fd: number, config: ChildConfig, relay: RequestRelay, balance: ConnectionBalance, onClosed: () => void): Front {
  const server = http.createServer(
    { maxHeaderSize: config.maxHeaderSize, requestTimeout: 0, keepAlive: config.keepalive },
    config.coverageDir === null ? relay.handle : withCoverageReport(relay.handle, { ...config, dataDir: config.coverageDir }),
  );
  server.headersTimeout = config.headersTimeout * 1000;
  server.keepAliveTimeout = config.keepaliveTimeout * 1000;
  server.on('checkContinue', relay.checkContinue);
  server.on('connection', (socket: net.Socket) => {
    balance.opened();
    socket.once('close', () => {
      balance.closed(socket);
      onClosed();
    });
  });
  server.on('clientError', onClientError);
  // The backlog as an argument: Node reads `backlog` from the options only for ports and paths,
  // and with `{fd}` alone it would call listen(2) again with 511, shrinking the controller's backlog.
  server.listen({ fd }, config.backlog);
  return {
    // net.Server's close, not http.Server's: stop accepting but leave idle keep-alive
    // connections open, so a request already on its way over one is answered (with
    // Connection: close) instead of lost; they end at their keep-alive timeout.
    stopAccepting: () => void net.Server.prototype.close.call(server),
    closeAll: () => server.closeAllConnections(),
  };
}
