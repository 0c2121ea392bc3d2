/**
 * Soak: sustained keep-alive load while the server is put through everything
 * that replaces children and workers: 20 SIGHUP reloads, an edit of a --watch file, memory
 * evictions (a leaking endpoint under --max-memory) and age evictions
 * (--max-age). Prints requests sent, failed (must be 0) and latency, overall
 * and during reloads. Loopback only; bounded in time.
 *
 *   scripts/soak [--seconds 40] [--concurrency 32]
 *
 * First half: 20 reloads back to back (one of them by a --watch file edit).
 * Second half: steady load, a leaking endpoint over --max-memory, --max-age 6.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, startLoad } from '../test/helpers/load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('seconds', 40);
const CONCURRENCY = arg('concurrency', 32);
const RELOADS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const APP = `
import os
HOARD = []

def app(environ, start_response):
    if environ["PATH_INFO"] == "/leak":
        HOARD.append(bytearray(256 * 1024))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spawning-soak-'));
  writeFileSync(path.join(dir, 'soakapp.py'), APP);
  writeFileSync(path.join(dir, 'settings.txt'), 'v1\n');
  const proc = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'spawning.js'),
      '--host', '127.0.0.1', '--port', '0', '--processes', '2', '--threads', '4',
      '--python', path.join(ROOT, '.venv', 'bin', 'python'),
      '--watch', 'settings.txt', '--max-memory', '400M', '--max-age', '6',
      '-l', '/dev/null', 'soakapp.app',
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const waitFor = async (re: RegExp, ms = 20_000): Promise<RegExpExecArray> => {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(stderr);
      if (m) return m;
      if (Date.now() > end) throw new Error(`soak: timed out waiting for ${re}\n${stderr}`);
      await sleep(50);
    }
  };
  const port = Number((await waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
  await waitFor(/ready \((\d+)\/\1 children\)/);

  const load = startLoad(port, '/', CONCURRENCY);
  const leak = startLoad(port, '/leak', 2);
  const started = performance.now();
  const windows: Array<[number, number]> = [];
  // First half: reloads back to back. Second half: quiet, so memory and age evictions get their turn.
  const interval = ((SECONDS / 2) * 1000) / RELOADS;
  for (let i = 0; i < RELOADS; i++) {
    await sleep(interval / 2);
    if (i === Math.floor(RELOADS / 2)) writeFileSync(path.join(dir, 'settings.txt'), `v${i}\n`);
    const before = (stderr.match(/reloaded: generation/g) ?? []).length;
    const from = performance.now();
    proc.kill('SIGHUP');
    await waitFor(new RegExp(`(reloaded: generation[^\\n]*\\n[\\s\\S]*){${before + 1}}`));
    windows.push([from, performance.now() + 500]);
    await sleep(interval / 2);
  }
  await sleep(Math.max(0, SECONDS * 1000 - (performance.now() - started)));
  const report = await load.stop();
  const leakReport = await leak.stop();
  const elapsed = (performance.now() - started) / 1000;
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });

  const reloads = (stderr.match(/reloaded: generation/g) ?? []).length;
  const memory = (stderr.match(/replaced worker \d+ of child #\d+ by \d+ \(memory limit\)/g) ?? []).length;
  const age = (stderr.match(/replaced worker \d+ of child #\d+ by \d+ \(max age\)/g) ?? []).length;
  const watched = (stderr.match(/settings\.txt changed/g) ?? []).length;
  const sent = report.sent + leakReport.sent;
  const failed = report.failed + leakReport.failed;
  const p = (q: number, values = report.latencies): string => `${percentile(values, q).toFixed(1)} ms`;
  // Requests sent between a SIGHUP and half a second after its generation was serving.
  const during = report.latencies.filter((_, i) => windows.some(([a, b]) => report.starts[i]! >= a && report.starts[i]! <= b));
  const rows: Array<[string, string]> = [
    ['duration', `${elapsed.toFixed(1)} s`],
    ['requests sent', String(sent)],
    ['requests failed', String(failed)],
    ['requests/s', (sent / elapsed).toFixed(0)],
    ['reloads (SIGHUP + watched file)', `${reloads} (${RELOADS} signals, ${watched} file change)`],
    ['memory evictions', String(memory)],
    ['age evictions', String(age)],
    ['latency p50 / p99 / max', `${p(50)} / ${p(99)} / ${p(100)}`],
    ['latency p99 during reloads', `${p(99, during)} (${during.length} requests)`],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
  if (failed > 0) {
    console.log(`FAILED: ${JSON.stringify([...report.reasons, ...leakReport.reasons])}`);
    process.exit(1);
  }
}

void main();
