/**
 * Access log: Apache combined format plus the request duration in seconds.
 *
 * Lines are written through an fs.WriteStream (libuv's thread pool), never
 * process.stdout, which is synchronous for pipes on Linux and would stall the
 * child behind a slow log reader. Lines of one event-loop turn share a write.
 */
import fs from 'node:fs';
import { compileAccessLogFormat, type AccessRecord } from './access-log-format.js';
import type { Exchange } from './exchange.js';
import type { FrontRequest, FrontResponse } from './front.js';

// Callers build records for AccessLog.write; they need not know the formats module defines them.
export type { AccessRecord };

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => (n < 10 ? '0' + n : String(n));

/** `[23/Nov/2026:07:40:00 +0000]`, computed once per second. */
function apacheTime(date: Date): string {
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`
  );
}

const quoted = (s: string | undefined): string => (s === undefined || s === '' ? '"-"' : JSON.stringify(s));

/** The access-log record of an answered request; `ex` when it reached the relay's exchange (not for a 413/503 answered before). */
export function accessRecord(req: FrontRequest, res: FrontResponse, bytes: number, startedAt: number, ex?: Exchange): AccessRecord {
  return {
    // The client as the app saw it (a trusted proxy's X-Forwarded-For applied).
    remoteAddr: ex?.environ.REMOTE_ADDR ?? req.socket.remoteAddress ?? '',
    method: req.method ?? '',
    url: req.url ?? '',
    httpVersion: req.httpVersion,
    status: res.statusCode,
    bytes,
    referer: req.headers.referer,
    userAgent: req.headers['user-agent'],
    seconds: (performance.now() - startedAt) / 1000,
    requestHeaders: req.headers,
    responseHeaders: ex?.responseHeaders,
    environ: ex?.environ,
  };
}

export function formatAccessLine(r: AccessRecord, time: string): string {
  return (
    `${r.remoteAddr || '-'} - - ${time} "${r.method} ${r.url} HTTP/${r.httpVersion}" ${r.status} ` +
    `${r.bytes > 0 ? r.bytes : '-'} ${quoted(r.referer)} ${quoted(r.userAgent)} ${r.seconds.toFixed(6)}\n`
  );
}

export class AccessLog {
  readonly enabled: boolean;
  #stream: fs.WriteStream | null = null;
  readonly #target: string;
  #lines: string[] = [];
  #scheduled = false;
  #second = -1;
  #time = '';
  readonly #format: (r: AccessRecord, time: string) => string;

  /** `target`: "-" for stdout, "/dev/null" for off, otherwise a file appended to; `format`: --access-log-format. */
  constructor(target: string, format: string | null = null) {
    this.enabled = target !== '/dev/null';
    this.#target = target;
    this.#format = format === null ? formatAccessLine : compileAccessLogFormat(format);
    if (this.enabled) this.#stream = this.#open();
  }

  #open(): fs.WriteStream {
    const target = this.#target;
    const stream = target === '-' ? fs.createWriteStream('', { fd: 1, autoClose: false }) : fs.createWriteStream(target, { flags: 'a' });
    stream.on('error', (err) => {
      process.stderr.write(`spawning: access log ${target}: ${err.message}\n`);
      if (this.#stream === stream) this.#stream = null;
    });
    return stream;
  }

  /** SIGUSR1: reopen the file (after logrotate moved it). */
  reopen(): void {
    if (!this.enabled || this.#target === '-') return;
    this.#flush();
    this.#stream?.end();
    this.#stream = this.#open();
  }

  write(record: AccessRecord): void {
    if (!this.#stream) return;
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#time = apacheTime(new Date(now));
    }
    this.#lines.push(this.#format(record, this.#time));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#stream && this.#lines.length) this.#stream.write(this.#lines.join(''));
    this.#lines = [];
  };

  /** Flushes and closes; resolves when the bytes reached the file. */
  close(): Promise<void> {
    this.#flush();
    const stream = this.#stream;
    this.#stream = null;
    if (!stream) return Promise.resolve();
    return new Promise((resolve) => stream.end(resolve));
  }
}
