/**
 * systemd's side of the protocols, for tests: a NOTIFY_SOCKET bound by a real
 * Unix datagram socket (a Python process, since Node has none), and a free
 * port for `systemd-socket-activate` to bind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './wait.js';

export interface NotifyListener {
  path: string;
  /** Every datagram received so far, in order. */
  messages: string[];
  /** Resolves once `count` datagrams matching `pattern` arrived. */
  waitFor(pattern: RegExp, count?: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

export async function listenForNotify(dir: string): Promise<NotifyListener> {
  const socketPath = path.join(dir, 'notify.sock');
  const proc: ChildProcess = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let bound = false;
  let pending = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const text = JSON.parse(pending.slice(0, nl)) as string;
      pending = pending.slice(nl + 1);
      if (!bound && text === 'bound') bound = true;
      else messages.push(text);
    }
  });
  await waitFor(() => bound, 'the notify socket to be bound');
  return {
    path: socketPath,
    messages,
    waitFor: async (pattern, count = 1, timeoutMs = 20_000) => {
      await waitFor(() => messages.filter((m) => pattern.test(m)).length >= count, `${count} notify message(s) ${pattern}; got ${JSON.stringify(messages)}`, timeoutMs);
    },
    close: () => proc.kill('SIGKILL'),
  };
}

/** A port nothing listens on now (the kernel's pick; another process could take it before it is used). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
