/**
 * Keep-alive HTTP load on every host of the fleet lab (scripts/fleet-lab load):
 *
 *   node dist/scripts/fleet-lab-load.js [--seconds N] [--concurrency C] URL...
 *
 * C loops per URL, each sending its next GET as soon as the last one
 * answered. Runs for N seconds, or until SIGINT/SIGTERM, then prints one JSON
 * object: per URL, requests sent, answered 200, failed (refused, reset, timed
 * out after 15 s, a non-200 status) with the reasons, and the bodies seen.
 */
import http from 'node:http';

interface UrlReport {
  sent: number;
  ok: number;
  failed: number;
  reasons: Record<string, number>;
  bodies: Record<string, number>;
}

const REQUEST_TIMEOUT_MS = 15_000;

function parse(argv: string[]): { seconds: number | null; concurrency: number; urls: string[] } {
  let seconds: number | null = null;
  let concurrency = 4;
  const urls: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--concurrency') concurrency = Number(argv[++i]);
    else urls.push(a);
  }
  if (urls.length === 0 || (seconds !== null && !(seconds > 0)) || !(concurrency >= 1)) {
    process.stderr.write('usage: fleet-lab-load [--seconds N] [--concurrency C] URL...\n');
    process.exit(2);
  }
  return { seconds, concurrency, urls };
}

const { seconds, concurrency, urls } = parse(process.argv.slice(2));
let running = true;
const reports = new Map<string, UrlReport>();

function loop(url: string, agent: http.Agent, report: UrlReport): Promise<void> {
  const count = (into: Record<string, number>, key: string): void => void (into[key] = (into[key] ?? 0) + 1);
  const fail = (reason: string): void => {
    report.failed++;
    count(report.reasons, reason);
  };
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      report.sent++;
      const req = http.get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) {
            report.ok++;
            count(report.bodies, body.slice(0, 40));
          } else fail(`status ${res.statusCode}`);
          resolve();
        });
        res.on('error', (err) => {
          fail(err.message);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        fail(err.code ?? err.message);
        resolve();
      });
    });
  return (async () => {
    while (running) {
      const before = report.failed;
      await one();
      if (report.failed > before) await new Promise((r) => setTimeout(r, 20));
    }
  })();
}

const agents: http.Agent[] = [];
const loops: Promise<void>[] = [];
for (const url of urls) {
  const report: UrlReport = { sent: 0, ok: 0, failed: 0, reasons: {}, bodies: {} };
  reports.set(url, report);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  agents.push(agent);
  for (let i = 0; i < concurrency; i++) loops.push(loop(url, agent, report));
}
process.stderr.write(`fleet-lab-load: ${concurrency} keep-alive loops on each of ${urls.join(' ')}\n`);

const finish = async (): Promise<void> => {
  if (!running) return;
  running = false;
  await Promise.all(loops);
  for (const a of agents) a.destroy();
  process.stdout.write(JSON.stringify(Object.fromEntries(reports)) + '\n');
};
process.on('SIGINT', () => void finish());
process.on('SIGTERM', () => void finish());
if (seconds !== null) setTimeout(() => void finish(), seconds * 1000);
