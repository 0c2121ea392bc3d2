/**
 * A minimal status listener (--status-port) for what the fleet needs from
 * it: /healthz (200 while serving, 503 while draining or stopping, so a load
 * balancer takes the host out) and /status.json (this node and its fleet).
 * The full status service replaces it and reads the same FleetNodeSource.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BindError } from '../errors.js';
import type { FleetView } from './member.js';
import type { FleetNodeSource } from './node-source.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** `source` is null until the controller runs (answers 503 'starting' meanwhile). */
export async function startHealthServer(host: string, port: number, getSource: () => FleetNodeSource | null, fleet: () => Promise<FleetView | null>): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const source = getSource();
    if (!source) {
      res.writeHead(503, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('starting\n');
      return;
    }
    if (path === '/healthz') {
      const { state } = source.snapshot();
      const healthy = !source.draining && state !== 'stopping';
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(healthy ? 'ok\n' : `${state}\n`);
      return;
    }
    if (path === '/status.json') {
      void fleet().then(
        (view) => res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ node: source.snapshot(), fleet: view }) + '\n'),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new BindError(`--status-port ${port} on ${host}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
