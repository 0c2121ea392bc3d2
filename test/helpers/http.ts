/**
 * HTTP over raw sockets, for tests where the bytes on the wire matter
 * (pipelining, HEAD, 100-continue, malformed requests), and a small response
 * parser to read them back.
 */
import http from 'node:http';
import net from 'node:net';

export interface RawResponse {
  status: number;
  reason: string;
  headers: Map<string, string>;
  body: Buffer;
}

export interface ConnectTarget {
  port?: number;
  path?: string;
}

/**
 * Bytes received on a socket, appended into a backing store that doubles when
 * full: a 50 MB body arriving in 64 KiB packets is copied about twice, not once
 * per packet (which made reading it take 20 s). Views handed out stay valid:
 * bytes below the length are never rewritten.
 */
class ReceivedBytes {
  #store = Buffer.alloc(64 * 1024);
  #length = 0;

  append(data: Buffer): void {
    if (this.#length + data.length > this.#store.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.#store.length * 2, this.#length + data.length));
      this.#store.copy(bigger, 0, 0, this.#length);
      this.#store = bigger;
    }
    data.copy(this.#store, this.#length);
    this.#length += data.length;
  }

  get bytes(): Buffer {
    return this.#store.subarray(0, this.#length);
  }
}

export function connect(target: ConnectTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.path ? net.connect(target.path) : net.connect(target.port!, '127.0.0.1');
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Writes `data`, then collects bytes until `done(received)` is true or the
 * peer closes; rejects after `timeoutMs` with what arrived so far.
 */
export async function exchange(
  target: ConnectTarget,
  data: string | Buffer,
  done: (received: Buffer) => boolean = () => false,
  timeoutMs = 10_000,
): Promise<{ received: Buffer; closed: boolean }> {
  const socket = await connect(target);
  return new Promise((resolve, reject) => {
    const received = new ReceivedBytes();
    let finished = false;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: received.bytes, closed });
    };
    const timer = setTimeout(() => {
      finished = true;
      socket.destroy();
      reject(new Error(`no complete answer in ${timeoutMs} ms; got: ${JSON.stringify(received.bytes.toString('latin1', 0, 500))}`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      received.append(d);
      if (done(received.bytes)) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(data);
  });
}

/** `done` predicate: `n` complete responses have arrived. */
export function responsesComplete(n: number, options: { head?: boolean } = {}): (received: Buffer) => boolean {
  return (received) => {
    try {
      return parseResponses(received, options).length >= n;
    } catch {
      return false;
    }
  };
}

function parseHead(text: string): { status: number; reason: string; headers: Map<string, string> } {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine!);
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(m[1]), reason: m[2]!, headers };
}

/**
 * Every complete response in `buf`, in order; a trailing incomplete one is
 * left out. `head: true` means the responses answer HEAD (no body follows).
 * Interim 1xx responses are returned as responses of their own.
 */
export function parseResponses(buf: Buffer, options: { head?: boolean } = {}): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end < 0) return out;
    const head = parseHead(buf.subarray(pos, end).toString('latin1'));
    let cursor = end + 4;
    let body: Buffer;
    const length = head.headers.get('content-length');
    const chunked = /chunked/i.test(head.headers.get('transfer-encoding') ?? '');
    if (options.head || head.status < 200 || head.status === 204 || head.status === 304) {
      body = Buffer.alloc(0);
    } else if (chunked) {
      const pieces: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', cursor);
        if (lineEnd < 0) return out;
        const size = parseInt(buf.subarray(cursor, lineEnd).toString('latin1'), 16);
        if (buf.length < lineEnd + 2 + size + 2) return out;
        pieces.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        cursor = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(pieces);
    } else if (length !== undefined) {
      if (buf.length < cursor + Number(length)) return out;
      body = buf.subarray(cursor, cursor + Number(length));
      cursor += Number(length);
    } else {
      // Delimited by close: the rest is the body.
      body = buf.subarray(cursor);
      cursor = buf.length;
    }
    out.push({ ...head, body });
    pos = cursor;
  }
}

/** One client connection read as a sequence of responses (keep-alive, pipelining). */
export class Connection {
  #received = new ReceivedBytes();
  #taken = 0;
  #closed = false;
  #wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.#received.append(d);
      this.#wake?.();
    });
    const onClose = (): void => {
      this.#closed = true;
      this.#wake?.();
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.on('error', onClose);
  }

  static async open(target: ConnectTarget): Promise<Connection> {
    return new Connection(await connect(target));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes received so far. */
  get received(): Buffer {
    return this.#received.bytes;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next complete response not returned yet. */
  async next(options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      const all = parseResponses(this.#received.bytes, options);
      if (all.length > this.#taken) return all[this.#taken++]!;
      if (this.#closed) throw new Error(`connection closed after ${this.#taken} responses; unparsed: ${JSON.stringify(this.#received.bytes.toString('latin1', 0, 300))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response ${this.#taken + 1} within ${options.timeoutMs ?? 10_000} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = null;
          resolve();
        };
      });
    }
  }

  /** Resolves when the peer has closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A request head; `headers` are written as given, so duplicates and odd names survive. */
export function requestHead(method: string, target: string, headers: Array<[string, string]> = []): string {
  const lines = [`${method} ${target} HTTP/1.1`, ...(headers.some(([n]) => n.toLowerCase() === 'host') ? [] : ['Host: localhost']), ...headers.map(([n, v]) => `${n}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A GET on a new connection (no agent): a kept-alive one may still reach a draining child of an old generation. */
export function freshGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}
