/**
 * `n` requests at once, each on its own connection (no keep-alive), as long-poll
 * clients make them: every answer is kept with its status, body, headers and
 * the milliseconds from the burst's start to its end.
 */
import http from 'node:http';

export interface BurstAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
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
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const started = performance.now();
  const errors = new Map<string, number>();
  const one = (): Promise<BurstAnswer | null> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ms: performance.now() - started }));
        res.on('error', () => resolve(null));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        errors.set(err.code ?? err.message, (errors.get(err.code ?? err.message) ?? 0) + 1);
        resolve(null);
      });
    });
  const settled = await Promise.all(Array.from({ length: n }, one));
  agent.destroy();
  return { answers: settled.filter((a): a is BurstAnswer => a !== null), errors, ms: performance.now() - started };
}

/** How many answers had each status, e.g. `{200: 1990, 503: 10}`. */
export function statusCounts(answers: BurstAnswer[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}
