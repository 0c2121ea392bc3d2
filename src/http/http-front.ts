/**
 * The child's HTTP/1.1 front on the inherited listening socket: every request
 * goes to the relay (`/_coverage` to the coverage report first, with
 * --coverage), requests the parser refuses are answered here, and open
 * connections are counted for the connection balance.
 *
 * The lean engine in `h1/` is the front; `SPAWNING_FRONT=node` puts the
 * node:http server back, for A/B measurements of the two.
 */
import type net from 'node:net';
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { ConnectionBalance } from './connection-balance.js';
import { withCoverageReport } from './coverage-report.js';
import type { Front, FrontHandlers, FrontPeer } from './front.js';
import { listenH1 } from './h1/h1-server.js';
import { listenNodeFront } from './node-front.js';
import type { RequestRelay } from './request-relay.js';

export type { Front } from './front.js';

/** What either front needs to know, in its own units. */
export interface FrontOptions {
  backlog: number;
  /** Largest request head (431 beyond). */
  maxHeaderSize: number;
  /** 0: no limit. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections close after this; 0: never. */
  keepaliveTimeoutMs: number;
  /** TCP keep-alive probes on accepted connections. */
  tcpKeepAlive: boolean;
  opened(peer: FrontPeer): void;
  closed(peer: FrontPeer): void;
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
    tcpKeepAlive: config.keepalive,
    opened: () => balance.opened(),
    closed: (peer) => {
      balance.closed(peer);
      onClosed();
    },
    accepted,
  };
  return process.env.SPAWNING_FRONT === 'node' ? listenNodeFront(fd, opts, handlers) : listenH1(fd, opts, handlers);
}
