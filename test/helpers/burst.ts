/**
 * `n` requests at once, each on its own connection (no keep-alive), as long-poll
 * clients make them: every answer is kept with its status, body, headers and
 * the milliseconds from the burst's start to its end.
 */
import net from 'node:net';
import { parseResponses } from './http.js';

export interface BurstAnswer {
  status: number;
  body: string;
  /** Lower-case names. */
  headers: Map<string, string>;
  ms: number;
}

export interface BurstResult {
  answers: BurstAnswer[];
  /** Requests that got no HTTP answer, by error code. */
  errors: Map<string, number>;
  /** Milliseconds until the last answer. */
  ms: number;
}

export async function burst(port: number, path: string, n: number): Promise<BurstResult> {
  const started = performance.now();
  const errors = new Map<string, number>();
  // Raw sockets and one `Connection: close` request each: the client costs far less CPU than
  // http.get's agent and parser would, which matters when 2,000 of them share 2 cores with the server.
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
  const one = (): Promise<BurstAnswer | null> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        errors.set(err.code ?? err.message, (errors.get(err.code ?? err.message) ?? 0) + 1);
        resolve(null);
      });
      socket.on('close', (hadError) => {
        if (hadError) return;
        const ms = performance.now() - started;
        const [parsed] = parseResponses(Buffer.concat(chunks));
        if (parsed === undefined) {
          errors.set('no complete response', (errors.get('no complete response') ?? 0) + 1);
          resolve(null);
          return;
        }
        resolve({ status: parsed.status, body: parsed.body.toString(), headers: parsed.headers, ms });
      });
    });
  const settled = await Promise.all(Array.from({ length: n }, one));
  return { answers: settled.filter((a): a is BurstAnswer => a !== null), errors, ms: performance.now() - started };
}

/** How many answers had each status, e.g. `{200: 1990, 503: 10}`. */
export function statusCounts(answers: BurstAnswer[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}
