/** One HTTP request on its way through the relay, and the answer to it. */
import type { Environ, HeaderList, ResponseFrame } from '../../protocol/worker-messages.js';
import type { PythonWorker } from '../actors/python-worker.js';
import type { Release } from './admission.js';
import { cutShort, reasonPhrase, type FrontRequest, type FrontResponse } from './front.js';

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
}

export const PLAIN = 'text/plain; charset=utf-8';
export const tooLarge = (max: number): string => `Payload Too Large: the body exceeds ${max} bytes`;

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
