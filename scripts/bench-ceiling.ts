/**
 * The ceiling in scripts/bench: a bare Node http server (cluster, one worker
 * per --processes) answering the same bytes as examples/bench.py, with no
 * Python behind it. `node dist/scripts/bench-ceiling.js PORT PROCESSES KEEPALIVE_SECONDS`
 * (the same keep-alive timeout the bench gives the servers that have one;
 * Node's default of 5 s closed early sockets while 10,000 were still opening).
 */
import cluster from 'node:cluster';
import http from 'node:http';

const [port, processes, keepAliveSeconds = 5] = process.argv.slice(2).map(Number) as [number, number, number?];
const HELLO = Buffer.from('Hello, world!');
const TEN_K = Buffer.alloc(10240, 'x');

function send(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}

if (cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/10k')) return send(res, TEN_K);
    if (url.startsWith('/echo')) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => send(res, Buffer.concat(chunks)));
      return;
    }
    if (url.startsWith('/sleep')) {
      const ms = /[?&]ms=(\d+)/.exec(url);
      setTimeout(() => send(res, HELLO), ms ? Number(ms[1]) : 10);
      return;
    }
    send(res, HELLO);
  });
  server.keepAliveTimeout = keepAliveSeconds * 1000;
  server.listen(port, '127.0.0.1');
}
