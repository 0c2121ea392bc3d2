/**
 * Relays HTTP exchanges to the Python worker and its answers back.
 *
 * One REQUEST frame per request; bodies stream both ways under per-request
 * credit (PROTOCOL.md "Flow control"). The relay outlives worker processes:
 * requests that arrive while no worker serves wait here, and a worker that
 * dies fails only the requests it had been given. Which worker takes a
 * request, and the frames coming back, are the WorkerSet's (worker-set.ts).
 * Workers are given no more requests at once than they can run
 * (admission.ts); a request that runs past --timeout is answered 504 and
 * reported, so its worker can be replaced.
 */
import { INITIAL_WINDOW, WorkerTag, type Environ, type HeaderList, type ResponseFrame } from '../../protocol/worker-messages.js';
import type { PythonWorker } from '../actors/python-worker.js';
import { accessRecord, type AccessLog } from './access-log.js';
import { Admission, type AdmissionCounters, type Release } from './admission.js';
import { buildEnviron, type ServerIdentity } from './environ.js';
import { answer, declaredOver, hintsOf, tooLarge, type Exchange } from './exchange.js';
import { cutShort, type FrontPeer, type FrontRequest, type FrontResponse } from './front.js';
import { outcomeOf, unserved, type RequestTracer } from './tracing.js';
import { fileOpened, sendWorkerFile } from './worker-file.js';
import type { RequestSink, WorkerSet } from './worker-set.js';

export interface RelayOptions {
  identity: ServerIdentity;
  keepalive: boolean;
  /** Bytes; 0 = unlimited. */
  maxBodySize: number;
  /** Requests the worker runs at once (its threads, or --max-green). */
  concurrency: number;
  /** Requests that may wait for a slot before 503. */
  maxQueue: number;
  /** Milliseconds a request may run before 504; 0 = no limit. */
  timeoutMs: number;
  accessLog: AccessLog;
  /** Called whenever the number of requests in flight drops to zero. */
  onIdle: () => void;
  /** Every response, once it is complete: its status and how long it took. */
  onResponse?: (status: number, seconds: number) => void;
  /** A request of `worker` ran past the timeout and was answered 504. */
  onTimeout?: (worker: PythonWorker, method: string, path: string) => void;
  /** True when this response should close its connection, to move the client to another child. */
  shedConnection?: (peer: FrontPeer) => boolean;
  /** --otel-endpoint: a server span per request. */
  tracer?: RequestTracer | null;
  /** Connections accepted and not read yet (connection-handoff.ts): they count as queued requests. */
  waitingConnections?: () => number;
  /** A request gave its slot back (answered, or its client left while it waited). */
  slotFreed?: () => void;
}

export interface RelayCounters extends AdmissionCounters {
  /** Requests waiting for a slot now. */
  queued: number;
  /** Answered 504 after --timeout. */
  timedOut: number;
}

export class RequestRelay implements RequestSink {
  readonly #opts: RelayOptions;
  readonly #workers: WorkerSet;
  readonly #exchanges = new Map<number, Exchange>();
  /** Requests holding a slot while no worker serves. */
  readonly #waiting: Exchange[] = [];
  readonly #admission: Admission;
  #nextId = 0;
  /** Connections that brought a request already. */
  readonly #served = new WeakSet<FrontPeer>();
  /** performance.now() of the newest request on a connection that had brought one before (connection-handoff.ts). */
  followUpAt = 0;
  #draining = false;
  #timedOut = 0;
  requests = 0;

  constructor(opts: RelayOptions, workers: WorkerSet) {
    this.#opts = opts;
    this.#workers = workers;
    this.#admission = new Admission(opts.concurrency, opts.maxQueue, opts.waitingConnections);
    workers.connect(this);
  }

  /** Requests being served or waiting for a worker or a slot. */
  get inflight(): number {
    return this.#exchanges.size + this.#waiting.length + this.#admission.queued;
  }

  /** Requests waiting for an admission slot. */
  get queued(): number {
    return this.#admission.queued;
  }

  /** A connection waited unread for a slot, `ms` long: a queue wait like any other. */
  connectionWaited(ms: number): void {
    this.#admission.waited(ms);
  }

  /** Queue and timeout counters for the `stats` message (connections not read yet count as queued requests). */
  counters(): RelayCounters {
    const waiting = this.#opts.waitingConnections?.() ?? 0;
    return { queued: this.#admission.queued + waiting, timedOut: this.#timedOut, ...this.#admission.snapshot() };
  }

  /** From now on every response closes its connection. */
  drain(): void {
    this.#draining = true;
    for (const ex of this.#exchanges.values()) if (!ex.res.headersSent) ex.res.shouldKeepAlive = false;
    for (const ex of this.#waiting) ex.res.shouldKeepAlive = false;
  }

  /** A worker serves now: the requests waiting for one go to it. */
  available(): void {
    while (this.#waiting.length > 0) {
      const worker = this.#workers.pick();
      if (worker === null) return;
      this.#dispatch(this.#waiting.shift()!, worker);
    }
  }

  /** The worker died: its requests fail (502), waiting ones stay for the next. */
  lost(worker: PythonWorker): number {
    let failed = 0;
    for (const ex of [...this.#exchanges.values()]) {
      if (ex.worker !== worker) continue;
      if (!ex.hung) failed++;
      if (!ex.answered) answer(ex.res, 502, 'Bad Gateway', false);
      ex.answered = true;
      this.#finish(ex);
    }
    return failed;
  }

  readonly handle = (req: FrontRequest, res: FrontResponse): void => this.#handle(req, res, buildEnviron(req, this.#opts.identity));

  #handle(req: FrontRequest, res: FrontResponse, environ: Environ): void {
    const opts = this.#opts;
    if (!opts.keepalive || this.#draining || opts.shedConnection?.(req.socket)) res.shouldKeepAlive = false;
    const span = opts.tracer ? opts.tracer.start(environ, req.httpVersion) : null;
    if (this.#rejectOversized(req, res, environ)) {
      span?.end(unserved(413));
      return;
    }
    // From the environ, not req.headers: node builds that object on first use, and nothing else here needs it.
    const length = environ.CONTENT_LENGTH;
    const now = performance.now();
    if (this.#served.has(req.socket)) this.followUpAt = now;
    else this.#served.add(req.socket);
    const ex: Exchange = {
      id: (this.#nextId = (this.#nextId + 1) >>> 0),
      req,
      res,
      environ,
      hasBody: req.hasBody ?? (environ.HTTP_TRANSFER_ENCODING !== undefined || (length !== undefined && length !== '0')),
      worker: null,
      bodyCredit: INITIAL_WINDOW,
      bodyBytes: 0,
      answered: false,
      hung: false,
      done: false,
      bytes: 0,
      startedAt: now,
      backlog: null,
      responseHeaders: undefined,
      release: null,
      withdraw: null,
      timer: undefined,
      span,
      dispatchedAt: 0,
      clientGone: false,
    };
    res.on('close', () => this.#onClose(ex));
    ex.withdraw = this.#admission.admit((release) => this.#start(ex, release));
    if (ex.withdraw === null) {
      ex.done = true;
      const busy = `${this.#admission.running} requests running, ${this.#admission.queued} waiting`;
      this.#reject(req, res, 503, `Service Unavailable: the worker is busy (${busy})`, false, ['Retry-After', '1']);
      span?.end(unserved(503));
    }
  }

  /** The request got an admission slot. */
  #start(ex: Exchange, release: Release): void {
    ex.release = release;
    if (ex.done) {
      release();
      return;
    }
    const worker = this.#workers.pick();
    if (worker) this.#dispatch(ex, worker);
    else this.#waiting.push(ex);
  }

  /** `Expect: 100-continue`: say "continue" only to a body we will accept. */
  readonly checkContinue = (req: FrontRequest, res: FrontResponse): void => {
    const environ = buildEnviron(req, this.#opts.identity);
    if (this.#rejectOversized(req, res, environ)) return;
    res.writeContinue();
    this.#handle(req, res, environ);
  };

  /** A declared Content-Length over --max-body-size is answered 413 before any of the body is read. */
  #rejectOversized(req: FrontRequest, res: FrontResponse, environ: Environ): boolean {
    const max = this.#opts.maxBodySize;
    if (!declaredOver(environ, max)) return false;
    this.#reject(req, res, 413, tooLarge(max), true);
    return true;
  }

  #dispatch(ex: Exchange, worker: PythonWorker): void {
    ex.worker = worker;
    if (ex.span !== null) ex.dispatchedAt = performance.now();
    this.#exchanges.set(ex.id, ex);
    this.#workers.give(worker);
    if (this.#opts.timeoutMs > 0) ex.timer = setTimeout(() => this.#timeout(ex), this.#opts.timeoutMs);
    worker.send([WorkerTag.REQUEST, ex.id, ex.environ, ex.hasBody]);
    if (!ex.hasBody) return;
    const { req } = ex;
    req.on('data', (chunk: Buffer) => {
      if (ex.done || ex.answered) return;
      ex.bodyBytes += chunk.length;
      const max = this.#opts.maxBodySize;
      if (max > 0 && ex.bodyBytes > max) {
        answer(ex.res, 413, tooLarge(max), true);
        ex.answered = true;
        worker.send([WorkerTag.ABORT, ex.id]);
        return;
      }
      worker.send([WorkerTag.BODY, ex.id, chunk]);
      ex.bodyCredit -= chunk.length;
      if (ex.bodyCredit <= 0) req.pause();
    });
    req.on('end', () => {
      if (!ex.done && !ex.answered) worker.send([WorkerTag.BODY_END, ex.id]);
    });
  }

  /**
   * Past --timeout: 504 now. The worker cannot stop a running thread, so the
   * request keeps its slot (and id) until the worker ends it or exits, and the
   * worker is reported for replacement.
   */
  #timeout(ex: Exchange): void {
    const worker = ex.worker;
    if (ex.done || worker === null) return;
    this.#timedOut++;
    if (!ex.answered) answer(ex.res, 504, `Gateway Timeout: the app did not answer within ${this.#opts.timeoutMs / 1000} s`, false);
    ex.answered = true;
    ex.hung = true;
    if (!worker.exited) worker.send([WorkerTag.ABORT, ex.id]);
    this.#settle(ex);
    this.#opts.onTimeout?.(worker, ex.environ.REQUEST_METHOD ?? '', ex.environ.PATH_INFO ?? '');
  }

  #onClose(ex: Exchange): void {
    if (ex.done || ex.res.writableFinished) return;
    if (ex.worker === null) {
      // Gone while it waited for a slot or a worker.
      const i = this.#waiting.indexOf(ex);
      if (i >= 0) this.#waiting.splice(i, 1);
      ex.done = true;
      ex.withdraw?.();
      ex.release?.();
      ex.span?.end({ ...unserved(0), clientGone: true });
      this.#opts.slotFreed?.();
      if (this.inflight === 0) this.#opts.onIdle();
      return;
    }
    // The client went away: the worker stops the app and still sends the terminal frame.
    ex.answered = true;
    ex.clientGone = true;
    if (!ex.worker.exited) ex.worker.send([WorkerTag.ABORT, ex.id]);
  }

  /** A frame about one of the requests given to `worker`. */
  frame(msg: ResponseFrame, worker: PythonWorker): void {
    const ex = this.#exchanges.get(msg[1]);
    if (ex === undefined || ex.worker !== worker) {
      if (msg[0] === WorkerTag.FILE) fileOpened(worker, msg[2]);
      return;
    }
    if (ex.backlog !== null) {
      ex.backlog.push(msg);
      return;
    }
    this.#apply(ex, msg);
  }

  #apply(ex: Exchange, msg: ResponseFrame): void {
    const res = ex.res;
    switch (msg[0]) {
      case WorkerTag.RESPONSE:
        if (!ex.answered && this.#writeHead(ex, msg[2], msg[3])) {
          ex.bytes = msg[4].length;
          res.end(msg[4]);
        }
        this.#finish(ex);
        return;
      case WorkerTag.START:
        if (!ex.answered) this.#writeHead(ex, msg[2], msg[3]);
        return;
      case WorkerTag.CHUNK: {
        const data = msg[2];
        const n = data.length;
        ex.bytes += n;
        if (ex.answered) {
          ex.worker?.send([WorkerTag.WINDOW_RESPONSE, ex.id, n]);
          return;
        }
        const worker = ex.worker;
        res.write(data, () => {
          if (!ex.done && worker && !worker.exited) worker.send([WorkerTag.WINDOW_RESPONSE, ex.id, n]);
        });
        return;
      }
      case WorkerTag.FILE:
        if (ex.answered) fileOpened(ex.worker, msg[2]);
        else this.#sendFile(ex, msg[2], msg[3], msg[4]);
        return;
      case WorkerTag.EARLY_HINTS:
        // HTTP/1.0 knows no 1xx responses (RFC 9110 §15.2); the worker does not send them, a front may not know.
        if (ex.answered || res.headersSent || ex.req.httpVersion === '1.0') return;
        try {
          res.writeEarlyHints(hintsOf(msg[2]));
        } catch (err) {
          process.stderr.write(`spawning: early hints dropped for ${ex.environ.REQUEST_METHOD} ${ex.environ.PATH_INFO}: ${(err as Error).message}\n`);
        }
        return;
      case WorkerTag.END:
        if (!ex.answered) res.end();
        this.#finish(ex);
        return;
      case WorkerTag.FAIL:
        if (!ex.answered) {
          // What the app yielded before it raised goes out, then the connection closes: the client sees a truncated body.
          if (res.headersSent) cutShort(res);
          else answer(res, 500, 'Internal Server Error', false);
        }
        this.#finish(ex);
        return;
      case WorkerTag.WINDOW_BODY:
        ex.bodyCredit += msg[2];
        // Not req.complete: the parser may have finished while the last chunks (and the EOF)
        // still sit in the paused stream's buffer, and only resume() delivers them.
        if (ex.bodyCredit > 0 && !ex.req.readableEnded) ex.req.resume();
        return;
    }
  }

  #writeHead(ex: Exchange, status: string, headers: HeaderList): boolean {
    const code = Number(status.slice(0, 3));
    ex.responseHeaders = headers;
    try {
      ex.res.writeHead(code, status.slice(4), headers);
      return true;
    } catch (err) {
      process.stderr.write(`spawning: invalid response from the app for ${ex.environ.REQUEST_METHOD} ${ex.environ.PATH_INFO}: ${(err as Error).message}\n`);
      ex.answered = true;
      answer(ex.res, 500, 'Internal Server Error', false);
      if (ex.worker && !ex.worker.exited) ex.worker.send([WorkerTag.ABORT, ex.id]);
      return false;
    }
  }

  /** A FILE frame (worker-file.ts); the frames behind it wait until the file is sent. */
  #sendFile(ex: Exchange, workerFd: number, offset: number, length: number): void {
    const worker = ex.worker;
    if (length === 0 || worker === null) return;
    ex.backlog = [];
    sendWorkerFile(ex, worker, workerFd, offset, length, (err) => {
      if (err !== null) {
        process.stderr.write(`spawning: file_wrapper for ${ex.environ.REQUEST_METHOD} ${ex.environ.PATH_INFO}: ${err.message}\n`);
        ex.answered = true;
        ex.res.destroy();
      }
      this.#resume(ex);
    });
  }

  /** A FILE finished streaming: apply the frames that queued behind it. */
  #resume(ex: Exchange): void {
    const backlog = ex.backlog ?? [];
    ex.backlog = null;
    while (backlog.length > 0 && ex.backlog === null) this.#apply(ex, backlog.shift()!);
    const again = ex.backlog as ResponseFrame[] | null; // set by another FILE in the backlog
    if (again !== null) again.unshift(...backlog);
  }

  #finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    this.#exchanges.delete(ex.id);
    // A hung request kept its slot until now: its thread (or greenlet) was still taken.
    ex.release?.();
    this.#opts.slotFreed?.();
    if (ex.hung) return; // counted and logged when it was answered 504
    clearTimeout(ex.timer);
    this.#settle(ex);
    if (this.inflight === 0) this.#opts.onIdle();
  }

  /** The client has its answer: count and log it, and the worker has one request fewer that it will finish. */
  #settle(ex: Exchange): void {
    if (ex.worker !== null) this.#workers.settle(ex.worker);
    this.requests++;
    const req = ex.req;
    if (!req.readableEnded) {
      // The app did not read the whole body: discard the rest so keep-alive can go on.
      req.removeAllListeners('data');
      req.resume();
    }
    this.#opts.onResponse?.(ex.res.statusCode, (performance.now() - ex.startedAt) / 1000);
    // What was sent, not what the app produced (a body past its Content-Length is cut).
    if (this.#opts.accessLog.enabled) this.#opts.accessLog.write(accessRecord(req, ex.res, ex.res.bodyBytes ?? ex.bytes, ex.startedAt, ex));
    ex.span?.end(outcomeOf(ex));
  }

  /** Answered here without the worker (413, 503): still one access-log line. */
  #reject(req: FrontRequest, res: FrontResponse, status: number, message: string, close: boolean, extra?: string[]): void {
    const startedAt = performance.now();
    answer(res, status, message, close, extra);
    this.requests++;
    this.#opts.onResponse?.(status, (performance.now() - startedAt) / 1000);
    if (this.#opts.accessLog.enabled) this.#opts.accessLog.write(accessRecord(req, res, Buffer.byteLength(message) + 1, startedAt));
  }
}
