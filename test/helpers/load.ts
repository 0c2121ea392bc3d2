/**
 * Sustained keep-alive load on loopback: `concurrency` loops, each sending the
 * next request as soon as the last one answered. Every failure (a refused or
 * reset connection, a non-2xx status, a wrong body) is counted, with its reason.
 */
import http from 'node:http';

export interface LoadReport {
  sent: number;
  ok: number;
  failed: number;
  reasons: Map<string, number>;
  /** Milliseconds, one per answered request. */
  latencies: number[];
  /** performance.now() when each of those requests was sent. */
  starts: number[];
  bodies: Map<string, number>;
}

export interface Load {
  stop(): Promise<LoadReport>;
  report: LoadReport;
}

const active = new Set<Load>();

/** Stops every load still running (for `after()`, when a failed assertion skipped a `stop()`). */
export async function stopAllLoads(): Promise<void> {
  await Promise.all([...active].map((l) => l.stop()));
}

export function startLoad(port: number, path = '/', concurrency = 16, validate?: (body: string) => boolean): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const report: LoadReport = { sent: 0, ok: 0, failed: 0, reasons: new Map(), latencies: [], starts: [], bodies: new Map() };
  let running = true;
  const fail = (reason: string): void => {
    report.failed++;
    report.reasons.set(reason, (report.reasons.get(reason) ?? 0) + 1);
  };
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      report.sent++;
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          report.latencies.push(performance.now() - started);
          report.starts.push(started);
          if (res.statusCode !== 200) fail(`status ${res.statusCode}`);
          else if (validate && !validate(body)) fail(`body ${body.slice(0, 40)}`);
          else {
            report.ok++;
            report.bodies.set(body, (report.bodies.get(body) ?? 0) + 1);
          }
          resolve();
        });
        res.on('error', (err) => {
          fail(err.message);
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        fail(err.code ?? err.message);
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const failedBefore = report.failed;
      await one();
      // A dead server fails at once: back off instead of spinning the CPU.
      if (report.failed > failedBefore) await new Promise((r) => setTimeout(r, 10));
    }
  });
  const load: Load = {
    report,
    stop: async () => {
      running = false;
      active.delete(load);
      await Promise.all(loops);
      agent.destroy();
      return report;
    },
  };
  active.add(load);
  return load;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
