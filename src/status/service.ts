/**
 * The status service (--status-port): an HTTP server in the controller that
 * answers from the StatusStore only, so no request here ever waits on a child.
 *
 *   GET /status         the live page (assets under /status/assets/, nothing from the internet)
 *   GET /status.json    the same data (README "Status service")
 *   GET /status/machines.json   the machine definitions (Mermaid and JSON) the page draws
 *   GET /metrics        Prometheus exposition
 *   GET /healthz        200 while serving, 503 while starting, drained or stopping
 *
 * Its health is machines/status.ts; this module binds, routes and feeds it.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createActor, type Actor } from 'xstate';
import type { FleetView } from '../fleet/member.js';
import type { Inspect } from './inspector.js';
import { healthOf, healthy, statusMachine } from '../../machines/status.js';
import { BindError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { machineCatalog } from './machine-catalog.js';
import { MetricsExporter } from './metrics.js';
import { buildStatus, type ControllerInfo, type ControllerView } from './snapshot.js';
import type { StatusStore } from './status-store.js';

const PAGE_DIR = path.join(PACKAGE_ROOT, 'src', 'status', 'page');
const ASSETS: Record<string, { file: string; type: string }> = {
  'status.js': { file: path.join(PAGE_DIR, 'status.js'), type: 'text/javascript; charset=utf-8' },
  'status.css': { file: path.join(PAGE_DIR, 'status.css'), type: 'text/css; charset=utf-8' },
  'mermaid.min.js': { file: createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js'), type: 'text/javascript; charset=utf-8' },
};

export interface StatusServiceOptions {
  host: string;
  port: number;
  store: StatusStore;
  info: Omit<ControllerInfo, 'startedAt' | 'pid'>;
  /** The controller's current view; read on every request. */
  view: () => Omit<ControllerView, 'health' | 'machines'> & { machines: Omit<ControllerView['machines'], 'status'> };
  log: (line: string) => void;
  /** Streams the status machine's actor events (--inspect). */
  inspect?: Inspect;
  /** The fleet this controller is in (--nats), for status.json and the page. */
  fleet?: () => Promise<FleetView | null>;
}

export interface StatusService {
  readonly url: string;
  readonly actor: Actor<typeof statusMachine>;
  /** The number of ready and configured children changed. */
  children(ready: number, configured: number): void;
  /** Take the host out of rotation (/healthz 503) or back in. */
  drainHost(): void;
  restoreHost(): void;
  /** The controller is stopping: /healthz answers 503 from now on. */
  stopping(): void;
  close(): Promise<void>;
}

const startedAt = Date.now();

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export async function startStatusService(opts: StatusServiceOptions): Promise<StatusService> {
  const { store } = opts;
  const actor = createActor(statusMachine.provide({ actions: { announce: (_, { url }) => opts.log(`spawning: status service on ${url}/status`), close: () => {} } }), {
    inspect: opts.inspect,
  });
  actor.start();
  const metrics = new MetricsExporter(store, () => {
    const view = opts.view();
    return { ready: view.records.filter((r) => r.state === 'ready').length, configured: view.fronts };
  });
  const info = (): ControllerInfo => ({ ...opts.info, pid: process.pid, startedAt });
  const fullView = (): ControllerView => {
    const view = opts.view();
    const snapshot = actor.getSnapshot();
    return { ...view, machines: { ...view.machines, status: snapshot.value }, health: healthOf(snapshot) };
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://status');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed: the status service only answers GET\n', { Allow: 'GET, HEAD' });
      return;
    }
    switch (url.pathname) {
      case '/':
        res.writeHead(302, { Location: '/status' }).end();
        return;
      case '/status':
      case '/status/':
        send(res, 200, 'text/html; charset=utf-8', await readFile(path.join(PAGE_DIR, 'status.html')));
        return;
      case '/favicon.ico':
        res.writeHead(204).end();
        return;
      case '/status.json':
        send(res, 200, 'application/json', JSON.stringify({ ...buildStatus(store, info(), fullView()), fleet: (await opts.fleet?.()) ?? null }));
        return;
      case '/status/machines.json':
        send(res, 200, 'application/json', JSON.stringify(machineCatalog()));
        return;
      case '/metrics':
        send(res, 200, metrics.contentType, await metrics.render());
        return;
      case '/healthz': {
        const health = healthOf(actor.getSnapshot());
        send(res, healthy(health) ? 200 : 503, 'text/plain; charset=utf-8', `${health}\n`);
        return;
      }
      default: {
        const asset = url.pathname.startsWith('/status/assets/') ? ASSETS[url.pathname.slice('/status/assets/'.length)] : undefined;
        if (asset) {
          send(res, 200, asset.type, await readFile(asset.file));
          return;
        }
        send(res, 404, 'text/plain; charset=utf-8', 'Not Found: try /status, /status.json, /metrics or /healthz\n');
      }
    }
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      opts.log(`spawning: status service: ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'Internal Server Error\n');
      else res.destroy();
    });
  });
  // The page polls; a stopping controller must not wait for idle keep-alive sockets.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      actor.send({ type: 'BIND_FAILED', message: err.message });
      reject(new BindError(`cannot serve the status service on ${opts.host}:${opts.port}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}`));
    });
    server.listen({ host: opts.host, port: opts.port }, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  actor.send({ type: 'BOUND', url });

  return {
    url,
    actor,
    children: (ready, configured) => actor.send({ type: 'CHILDREN', ready, configured }),
    drainHost: () => actor.send({ type: 'HOST_DRAIN' }),
    restoreHost: () => actor.send({ type: 'HOST_RESTORE' }),
    stopping: () => actor.send({ type: 'CONTROLLER_STOPPING' }),
    close: async () => {
      actor.send({ type: 'CLOSE' });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
