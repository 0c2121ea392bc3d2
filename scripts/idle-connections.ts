/**
 * For `scripts/bench`: opens N keep-alive connections to HOST:PORT, makes one
 * request on each, then leaves them all open and idle. Prints `ready N` once
 * every connection has its answer (or `failed N` and exits 1), then holds
 * them until stdin closes or SIGTERM.
 *
 *   node dist/scripts/idle-connections.js HOST PORT N [PATH]
 */
import net from 'node:net';

const [host = '127.0.0.1', portText = '8080', countText = '10000', path = '/'] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
/** Connections opened at once: more would overflow the listen backlog in bursts. */
const BATCH = 500;

const sockets: net.Socket[] = [];

function openOne(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let received = '';
    const fail = (): void => resolve(false);
    socket.once('error', fail);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (/\r\n\r\n/.test(received)) {
        socket.removeAllListeners('data');
        socket.off('error', fail);
        socket.on('error', () => {});
        sockets.push(socket);
        resolve(received.startsWith('HTTP/1.1 200'));
      }
    });
  });
}

async function main(): Promise<void> {
  let failed = 0;
  for (let opened = 0; opened < count; opened += BATCH) {
    const results = await Promise.all(Array.from({ length: Math.min(BATCH, count - opened) }, openOne));
    failed += results.filter((ok) => !ok).length;
  }
  if (failed > 0) {
    process.stdout.write(`failed ${failed}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready ${sockets.length}\n`);
  const done = (): never => process.exit(0);
  process.stdin.on('end', done).resume();
  process.on('SIGTERM', done);
}

void main();
