/**
 * The child's front with --certfile: a tls.Server on the inherited socket.
 * After the handshake, ALPN decides: `h2` goes to the HTTP/2 sessions,
 * `http/1.1` (or no ALPN at all) to the same lean HTTP/1.1 engine the
 * cleartext front runs, over the TLS socket.
 *
 * Rotation: `setMaterial` swaps the server's secure context
 * (tls.Server.setSecureContext), so handshakes from then on present the new
 * certificate while connections already open keep theirs.
 */
import tls from 'node:tls';
import type { Front, FrontHandlers } from './front.js';
import type { H2Sessions } from './h2/h2-front.js';
import { createH1Engine } from './h1/h1-server.js';
import type { FrontOptions } from './http-front.js';
import { refusedOptional, secureContextOptions, tlsEnviron, tlsServerOptions, type TlsPolicy } from './tls.js';
import type { TlsMaterial } from '../../protocol/control-messages.js';

/** TLS handshakes that take longer are cut (node's default is 120 s). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsFront extends Front {
  setMaterial(material: TlsMaterial): void;
}

export function listenTlsFront(fd: number, opts: FrontOptions, handlers: FrontHandlers, material: TlsMaterial, policy: TlsPolicy, h2: H2Sessions | null): TlsFront {
  const h1 = createH1Engine(opts, handlers);
  const alpn = h2 === null ? ['http/1.1'] : ['h2', 'http/1.1'];
  const server = tls.createServer(tlsServerOptions(material, policy, alpn, HANDSHAKE_TIMEOUT_MS), (socket: tls.TLSSocket) => {
    if (refusedOptional(socket, policy)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (opts.tcpKeepAliveIdleMs > 0) socket.setKeepAlive(true, opts.tcpKeepAliveIdleMs);
    const environ = tlsEnviron(socket);
    if (socket.alpnProtocol === 'h2' && h2 !== null) h2.adopt(socket, environ);
    else
      h1.adopt(socket, (conn) => {
        conn.tlsEnviron = environ;
      });
  });
  // A failed handshake (a plain-HTTP client, a refused certificate) is the client's problem: no log line.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  server.once('close', () => h1.stop());
  server.listen({ fd }, opts.backlog);
  return {
    stopAccepting: () => {
      server.close();
      h2?.goaway();
    },
    closeAll: () => {
      h1.closeAll();
      h2?.closeAll();
    },
    setMaterial: (m) => server.setSecureContext(secureContextOptions(m, policy)),
  };
}
