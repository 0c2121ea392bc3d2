/**
 * `--coverage`: the child answers `/_coverage` itself, with coverage.py's
 * HTML report combined across every worker's data (`/_coverage/`, and the
 * report's own files beside it) or its JSON report (`?format=json`).
 *
 * The report is made by a separate Python process
 * (`python -m spawning.coverage_support`), so the child keeps serving other
 * requests meanwhile; requests that arrive while one is being made share it.
 * Each report goes to a fresh directory and a symlink shared by all children
 * is swapped to it, since the report's links may be followed through any
 * child.
 */
import { execFile } from 'node:child_process';
import { createReadStream, promises as fsp, renameSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { pythonEnv } from '../actors/python-worker.js';
import { reasonPhrase, type FrontHandler, type FrontRequest, type FrontResponse } from './front.js';
import { sendStream } from './send-stream.js';

export const COVERAGE_PATH = '/_coverage';

export interface CoverageReportOptions {
  python: string;
  pythonPath: readonly string[];
  /** Where the workers write their data files (the controller's temporary directory). */
  dataDir: string;
}

type Kind = 'html' | 'json';
/** A made report: its directory (HTML), or the JSON itself (its directory is gone already). */
type Outcome = { ok: true; dir: string; json?: Buffer } | { ok: false; status: number; message: string };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

function plain(res: FrontResponse, status: number, message: string, extra: string[] = []): void {
  const body = Buffer.from(`${message}\n`);
  res.writeHead(status, reasonPhrase(status), ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length), ...extra]);
  res.end(body);
}

async function sendFile(req: FrontRequest, res: FrontResponse, file: string): Promise<void> {
  let size: number;
  try {
    const stat = await fsp.stat(file);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch {
    plain(res, 404, 'Not Found');
    return;
  }
  res.writeHead(200, reasonPhrase(200), ['Content-Type', TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length', String(size), 'Cache-Control', 'no-store']);
  if (req.method === 'HEAD') res.end();
  else sendStream(createReadStream(file), res, (err) => (err === null ? res.end() : res.destroy()));
}

/** Wraps the child's request handler: `/_coverage…` is answered here, everything else goes on. */
export function withCoverageReport(next: FrontHandler, opts: CoverageReportOptions): FrontHandler {
  const current = path.join(opts.dataDir, 'report-current');
  const pending = new Map<Kind, Promise<Outcome>>();
  /** This child's HTML reports, newest last: the one before the newest may still be being read. */
  const mine: string[] = [];
  let serial = 0;

  /** Points report-current at `dir` (rename over the link is atomic) and drops this child's older reports. */
  const publish = (dir: string): void => {
    const link = `${current}.${process.pid}`;
    rmSync(link, { force: true });
    symlinkSync(dir, link);
    renameSync(link, current);
    mine.push(dir);
    while (mine.length > 2) rmSync(mine.shift()!, { recursive: true, force: true });
  };

  const generate = (kind: Kind): Promise<Outcome> => {
    let p = pending.get(kind);
    if (p) return p;
    const dir = path.join(opts.dataDir, `report-${process.pid}-${++serial}`);
    p = new Promise<Outcome>((resolve) => {
      const args = ['-m', 'spawning.coverage_support', opts.dataDir, dir, kind];
      execFile(opts.python, args, { env: pythonEnv(opts.pythonPath), timeout: 120_000, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
        if (!err && kind === 'html') {
          publish(dir);
          return resolve({ ok: true, dir });
        }
        if (!err) {
          const json = fsp.readFile(path.join(dir, 'coverage.json'));
          return void json
            .then((buf) => resolve({ ok: true, dir, json: buf }), (e: Error) => resolve({ ok: false, status: 500, message: `the coverage report failed: ${e.message}` }))
            .finally(() => rmSync(dir, { recursive: true, force: true }));
        }
        rmSync(dir, { recursive: true, force: true });
        const last = stderr.trim().split('\n').pop() ?? err.message;
        resolve(err.code === 3 ? { ok: false, status: 503, message: last } : { ok: false, status: 500, message: `the coverage report failed: ${last}` });
      });
    }).finally(() => pending.delete(kind));
    pending.set(kind, p);
    return p;
  };

  const serve = async (req: FrontRequest, res: FrontResponse, target: string, query: string): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method Not Allowed', ['Allow', 'GET, HEAD']);
    const kind: Kind | null = new URLSearchParams(query).get('format') === 'json' ? 'json' : target === `${COVERAGE_PATH}/` ? 'html' : null;
    if (kind === null && target === COVERAGE_PATH) return plain(res, 302, 'Found', ['Location', `${COVERAGE_PATH}/`]);
    if (kind !== null) {
      const outcome = await generate(kind);
      if (!outcome.ok) return plain(res, outcome.status, outcome.message);
      const json = outcome.json;
      if (json === undefined) return sendFile(req, res, path.join(outcome.dir, 'index.html'));
      res.writeHead(200, reasonPhrase(200), ['Content-Type', TYPES['.json']!, 'Content-Length', String(json.length), 'Cache-Control', 'no-store']);
      return void res.end(req.method === 'HEAD' ? undefined : json);
    }
    // The report's own pages, styles and scripts, as its links name them.
    const name = target.slice(COVERAGE_PATH.length + 1);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) return plain(res, 404, 'Not Found');
    return sendFile(req, res, path.join(current, name));
  };

  return (req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(COVERAGE_PATH)) return next(req, res);
    const q = url.indexOf('?');
    const target = q < 0 ? url : url.slice(0, q);
    if (target !== COVERAGE_PATH && !target.startsWith(`${COVERAGE_PATH}/`)) return next(req, res);
    req.resume(); // a body, if any, is not ours to read
    serve(req, res, target, q < 0 ? '' : url.slice(q + 1)).catch((err: Error) => {
      if (!res.headersSent) plain(res, 500, `the coverage report failed: ${err.message}`);
      else res.destroy();
    });
  };
}
