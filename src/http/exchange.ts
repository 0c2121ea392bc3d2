/** One HTTP request on its way through the relay, and the answer to it. */
import type { Environ, HeaderList, ResponseFrame } from '../../protocol/worker-messages.js';
import type { PythonWorker } from '../actors/python-worker.js';
import type { Release } from './admission.js';
import { cutShort, reasonPhrase, type FrontRequest, type FrontResponse } from './front.js';
import type { RequestSpan } from './tracing.js';

export interface Exchange {
  id: number;
  req: FrontRequest;
  res: FrontResponse;
  environ: Environ;
  hasBody: boolean;
  /** The worker this request was given to; null while it waits for one. */
  worker: PythonWorker | null;
  bodyCredit: number;
  bodyBytes: number;
  /** We already answered (413, 500…): later frames only free the id. */
  answered: boolean;
  /** Answered 504 after --timeout while the app still runs it. */
  hung: boolean;
  done: boolean;
  bytes: number;
  startedAt: number;
  /** Frames queued behind a FILE that is still streaming. */
  backlog: ResponseFrame[] | null;
  /** The app's response headers, for the access log's %({name}o)s. */
  responseHeaders: HeaderList | undefined;
  /** Frees its admission slot once started; withdraws it while it waits. */
  release: Release | null;
  withdraw: Release | null;
  timer: NodeJS.Timeout | undefined;
  /** Its server span, with --otel-endpoint. */
  span: RequestSpan | null;
  /** performance.now() when it was given to a worker (kept only for the span). */
  dispatchedAt: number;
  /** The client closed before the response was complete. */
  clientGone: boolean;
}

export const PLAIN = 'text/plain; charset=utf-8';
export const tooLarge = (max: number): string => `Payload Too Large: the body exceeds ${max} bytes`;
/** A declared Content-Length over `max` bytes (0: no limit). */
export const declaredOver = (environ: Environ, max: number): boolean => max > 0 && environ.CONTENT_LENGTH !== undefined && Number(environ.CONTENT_LENGTH) > max;

/** An answer of the relay's own (413, 502, 503…); a response whose head already left is cut short instead. */
export function answer(res: FrontResponse, status: number, message: string, close: boolean, extra: string[] = []): void {
  if (res.headersSent || res.destroyed) {
    cutShort(res);
    return;
  }
  const body = Buffer.from(`${message}\n`);
  if (close) res.shouldKeepAlive = false;
  res.writeHead(status, reasonPhrase(status), ['Content-Type', PLAIN, 'Content-Length', String(body.length), ...extra]);
  res.end(body);
}

/** A flat header list as the object writeEarlyHints takes (a repeated name becomes a list). */
export function hintsOf(headers: HeaderList): Record<string, string | string[]> {
  const hints: Record<string, string | string[]> = {};
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    const prev = hints[name];
    hints[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return hints;
}
