/**
 * The child's HTTP front on the inherited listening socket: every request
 * goes to the relay (`/_coverage` to the coverage report first, with
 * --coverage), requests the parser refuses are answered here, and open
 * connections are counted for the connection balance.
 *
 * Which front: with --certfile, TLS (tls-front.ts: ALPN picks HTTP/2 or
 * the lean HTTP/1.1 engine); otherwise the lean HTTP/1.1 engine in `h1/`
 * on `net`, which with --h2c also hands connections that open with the
 * HTTP/2 preface to HTTP/2. `SPAWNING_FRONT=node` puts the node:http server
 * back for cleartext HTTP/1.1, for A/B measurements of the two.
 */
import type net from 'node:net';
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { ConnectionBalance } from './connection-balance.js';
import { withCoverageReport } from './coverage-report.js';
import { proxyTrust } from './forwarded.js';
import type { Front, FrontHandlers, FrontPeer } from './front.js';
import { H2Sessions, streamLimit } from './h2/h2-front.js';
import { listenH1 } from './h1/h1-server.js';
import { listenNodeFront } from './node-front.js';
import type { ProxyProtocolOptions } from './proxy-protocol.js';
import type { RequestRelay } from './request-relay.js';
import { listenTlsFront } from './tls-front.js';

export type { Front } from './front.js';

/**
 * TCP keep-alive probes start after a connection has been silent this long, so a
 * client whose host vanished (powered off, dropped by a NAT) is found within
 * about 70 s (libuv then probes each second, 10 times) and its request, a long
 * poll above all, is cancelled and frees its slot. Given explicitly because
 * Node's default of 0 is refused by Linux (EINVAL on TCP_KEEPIDLE), which leaves
 * the kernel's 2 hours. Independent of HTTP keep-alive (--no-keepalive).
 */
export const TCP_KEEPALIVE_IDLE_MS = 60_000;

/** What either front needs to know, in its own units. */
export interface FrontOptions {
  backlog: number;
  /** Largest request head (431 beyond). */
  maxHeaderSize: number;
  /** 0: no limit. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections close after this; 0: never. */
  keepaliveTimeoutMs: number;
  /** Idle time before TCP keep-alive probes start on an accepted connection; 0: no probes. */
  tcpKeepAliveIdleMs: number;
  /** --h2c: cleartext connections that open with the HTTP/2 preface go here. */
  h2c?: H2Sessions | undefined;
  opened(peer: FrontPeer): void;
  closed(peer: FrontPeer): void;
  /** --proxy-protocol: each connection's PROXY header is read before the front sees a byte. */
  proxyProtocol: ProxyProtocolOptions | null;
  /**
   * New connections arrive paused, nothing read, and go here instead of being
   * served at once; the front reads one when it is given back through
   * `Front.adopt` (connection-handoff.ts). The lean front only.
   */
  accepted?: (socket: net.Socket) => void;
}

/** Accepts on `fd` (the controller's socket) with `config.backlog`; `onClosed` runs after each connection ends. */
export function listenFront(fd: number, config: ChildConfig, relay: RequestRelay, balance: ConnectionBalance, onClosed: () => void, accepted?: (socket: net.Socket) => void): Front {
  const handlers: FrontHandlers = {
    request: config.coverageDir === null ? relay.handle : withCoverageReport(relay.handle, { ...config, dataDir: config.coverageDir }),
    checkContinue: relay.checkContinue,
  };
  const opts: FrontOptions = {
    backlog: config.backlog,
    maxHeaderSize: config.maxHeaderSize,
    headersTimeoutMs: config.headersTimeout * 1000,
    keepaliveTimeoutMs: config.keepaliveTimeout * 1000,
    tcpKeepAliveIdleMs: TCP_KEEPALIVE_IDLE_MS,
    proxyProtocol: config.proxyProtocol ? { trusts: proxyTrust(config.forwardedAllowIps), timeoutMs: config.headersTimeout * 1000 } : null,
    opened: () => balance.opened(),
    closed: (peer) => {
      balance.closed(peer);
      onClosed();
    },
    accepted,
  };
  const wantH2 = config.tls !== null ? config.http2 === 'on' : config.h2c;
  const h2 = wantH2
    ? new H2Sessions(opts, handlers, {
        maxConcurrentStreams: streamLimit((config.threads === 0 ? config.maxGreen : config.threads) * config.workers, config.maxQueue),
        maxHeaderListSize: config.maxHeaderSize,
      })
    : null;
  if (config.tls !== null) return listenTlsFront(fd, opts, handlers, config.tls, config, h2);
  if (h2 !== null) return listenH1(fd, { ...opts, h2c: h2 }, handlers);
  return process.env.SPAWNING_FRONT === 'node' ? listenNodeFront(fd, opts, handlers) : listenH1(fd, opts, handlers);
}
