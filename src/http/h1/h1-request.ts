/**
 * One request as the lean front hands it over: its head, parsed by llhttp,
 * and its body as a small pausable source (FrontRequest), not a stream.Readable.
 *
 * Body chunks go straight to the 'data' listener while it flows; while it is
 * paused, or before anyone listens, they wait here, and past BUFFER_LIMIT the
 * connection stops reading from the client until they are taken. 'end' comes
 * after the last chunk was delivered, as with node's IncomingMessage; buffered
 * chunks are delivered on the next tick, so listeners added together (data,
 * then end) all see them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FrontPeer, FrontRequest } from '../front.js';
import type { HeadRequest } from './response-head.js';

/** Body bytes held for a paused consumer before the client is no longer read. */
const BUFFER_LIMIT = 64 * 1024;

/** What a request needs of its connection. */
export interface BodyFlow {
  /** Body bytes are waiting here (true) or were taken (false): reading from the client stops while any request holds too many. */
  holdingBody(holding: boolean): void;
}

/** The only 'data' and 'end' listener a request takes; a second one is a bug, not a use. */
function single<T>(current: T | null, next: T, event: string): T {
  if (current !== null && current !== next) throw new Error(`a FrontRequest takes one '${event}' listener`);
  return next;
}

// Node's rules for joining duplicate headers (IncomingMessage#_addHeaderLine): these keep the first value.
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

export class H1Request implements FrontRequest, HeadRequest {
  readableEnded = false;
  #headers: IncomingHttpHeaders | undefined;
  readonly #flow: BodyFlow;
  #chunks: Buffer[] | null = null;
  #buffered = 0;
  #holding = false;
  /** The parser saw the end of the body. */
  #complete = false;
  /** null: nobody asked for the body yet; false: paused; true: flowing. */
  #flowing: boolean | null = null;
  #scheduled = false;
  #onData: ((chunk: Buffer) => void) | null = null;
  #onEnd: (() => void) | null = null;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly httpVersion: string,
    readonly rawHeaders: string[],
    readonly socket: FrontPeer,
    flow: BodyFlow,
    readonly isHead: boolean,
    readonly http10: boolean,
  ) {
    this.#flow = flow;
  }

  get headers(): IncomingHttpHeaders {
    if (this.#headers !== undefined) return this.#headers;
    const headers: Record<string, string | string[]> = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      const prev = headers[name];
      if (prev === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
      else if (Array.isArray(prev)) prev.push(value);
      else if (!FIRST_WINS.has(name)) headers[name] = `${prev}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    this.#headers = headers;
    return headers;
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'data' | 'end', listener: ((chunk: Buffer) => void) | (() => void)): this {
    if (event === 'data') {
      this.#onData = single(this.#onData, listener as (chunk: Buffer) => void, event);
      // As a Readable: a data listener starts the flow unless it was paused on purpose.
      if (this.#flowing !== false) this.resume();
    } else {
      this.#onEnd = single(this.#onEnd, listener as () => void, event);
    }
    return this;
  }

  removeAllListeners(event: 'data'): this {
    if (event === 'data') this.#onData = null;
    return this;
  }

  pause(): this {
    this.#flowing = false;
    return this;
  }

  resume(): this {
    this.#flowing = true;
    if (this.#chunks !== null) this.#schedule();
    else if (this.#complete && !this.readableEnded) {
      // Nobody waits for 'end' (a request without a body, discarded): no tick needed.
      if (this.#onEnd === null) this.readableEnded = true;
      else this.#schedule();
    }
    return this;
  }

  /** From the parser: a piece of the body. */
  push(chunk: Buffer): void {
    if (this.#flowing === true && this.#chunks === null && !this.#scheduled) {
      this.#onData?.(chunk);
      return;
    }
    (this.#chunks ??= []).push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered >= BUFFER_LIMIT && !this.#holding) {
      this.#holding = true;
      this.#flow.holdingBody(true);
    }
  }

  /** From the parser: the body is complete. */
  complete(): void {
    this.#complete = true;
    if (this.#flowing === true && this.#chunks === null && !this.#scheduled) this.#end();
  }

  /** The connection is gone: nothing more will come, and nothing waits here. */
  abandon(): void {
    this.#chunks = null;
    this.#buffered = 0;
    this.#holding = false;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(() => this.#deliver());
  }

  #deliver(): void {
    this.#scheduled = false;
    const chunks = this.#chunks;
    while (chunks !== null && chunks.length > 0 && this.#flowing === true) {
      const chunk = chunks.shift()!;
      this.#buffered -= chunk.length;
      this.#onData?.(chunk);
    }
    if (chunks !== null && chunks.length === 0 && this.#chunks === chunks) this.#chunks = null;
    if (this.#holding && this.#buffered < BUFFER_LIMIT) {
      this.#holding = false;
      this.#flow.holdingBody(false);
    }
    if (this.#flowing === true && this.#chunks === null && this.#complete && !this.readableEnded) this.#end();
  }

  #end(): void {
    this.readableEnded = true;
    this.#onEnd?.();
  }
}
