/**
 * Requests the front refuses before any handler sees them (malformed,
 * headers too large, too slow) and connections the client resets mid-request:
 * the status, a bounded log, counters, and a short answer that closes the
 * connection. Both fronts answer them alike.
 *
 * The log is bounded because an attacker chooses how many of these there
 * are (6,000 fuzzed requests once wrote 5,673 lines): of each kind the first
 * FULL_LINES go to stderr in full, later ones are only counted, and every
 * interval one line per kind sums them up (`400 bad request ×1,532 from 12
 * addresses in the last 10 s`). A kind quiet for a whole interval gets its
 * full lines again. Every one is counted for the `stats` message
 * (status.json `client_errors`, /metrics `spawning_client_errors_total`).
 * The access log is not involved: these requests were never answered by the
 * app.
 */

/** Status line for a request the parser (or the front) refused; null when there is no one to answer. */
export function clientErrorStatus(code: string | undefined): string | null {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return '408 Request Timeout';
    default:
      return '400 Bad Request';
  }
}

/** Lines of each kind written in full before the rest are only counted. */
export const FULL_LINES = 5;
/** Distinct addresses remembered per kind and interval; past it the summary says "at least". */
const MAX_ADDRESSES = 10_000;
/** The kind of a connection the client reset while a request was read or answered. */
export const RESET = 'reset';

interface KindState {
  /** Full lines written in the current burst. */
  shown: number;
  /** Counted but not written, this interval. */
  suppressed: number;
  addresses: Set<string>;
  /** Seen this interval. */
  active: boolean;
}

export class ClientErrorLog {
  /** Every refusal and reset since the start, by kind (`400`, `408`, `431`, `505`, `reset`). */
  readonly counts: Record<string, number> = {};
  readonly #kinds = new Map<string, KindState>();
  /** What each kind is called in a summary line. */
  readonly #labels = new Map<string, string>();
  #intervalMs = 10_000;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (line: string) => void = (line) => void process.stderr.write(line),
    private readonly prefix: string = `spawning: child ${process.pid}: `,
  ) {}

  /** 0: every one in full (no summaries). */
  configure(intervalMs: number): void {
    this.#intervalMs = intervalMs;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A refused request (status `400 Bad Request`…) or, with status RESET, a reset connection. */
  report(status: string, peer: string | undefined, code: string | undefined, message: string): void {
    const kind = status === RESET ? RESET : status.slice(0, 3);
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    const full = `${this.prefix}${kind} for ${peer ?? 'unix socket'}: ${code ?? 'HTTP_PARSE'} ${message}\n`;
    if (this.#intervalMs <= 0) {
      this.write(full);
      return;
    }
    let state = this.#kinds.get(kind);
    if (state === undefined) {
      state = { shown: 0, suppressed: 0, addresses: new Set(), active: false };
      this.#kinds.set(kind, state);
      this.#labels.set(kind, status === RESET ? 'connection reset' : status.toLowerCase());
    }
    state.active = true;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.flush(), this.#intervalMs);
      this.#timer.unref();
    }
    if (state.shown < FULL_LINES) {
      state.shown++;
      this.write(state.shown === FULL_LINES ? `${full.slice(0, -1)} (more of this kind are counted and summed up every ${this.#seconds()})\n` : full);
      return;
    }
    state.suppressed++;
    if (state.addresses.size < MAX_ADDRESSES) state.addresses.add(peer ?? 'unix socket');
  }

  /** One line per kind with counted-only refusals; a kind that was quiet all interval starts over. Called every interval and at exit. */
  flush(): void {
    let active = false;
    for (const [kind, state] of this.#kinds) {
      if (state.suppressed > 0) {
        const n = state.addresses.size;
        const from = n >= MAX_ADDRESSES ? `at least ${n.toLocaleString('en-US')} addresses` : `${n} address${n === 1 ? '' : 'es'}`;
        this.write(`${this.prefix}${this.#labels.get(kind)} ×${state.suppressed.toLocaleString('en-US')} from ${from} in the last ${this.#seconds()}\n`);
        state.suppressed = 0;
        state.addresses.clear();
      }
      if (!state.active) state.shown = 0;
      active ||= state.active;
      state.active = false;
    }
    if (!active) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #seconds(): string {
    return `${(this.#intervalMs / 1000).toLocaleString('en-US')} s`;
  }
}

/** The child's log of refused requests (configured from --error-log-interval at start). */
export const clientErrors = new ClientErrorLog();

/** A refused request: counted, and logged within the bound. */
export function logClientError(status: string, peer: string | undefined, code: string | undefined, message: string): void {
  clientErrors.report(status, peer, code, message);
}

/** The body of the answer to a refused request: its reason phrase. */
export const clientErrorBody = (status: string): string => `${status.slice(4)}\n`;

/** The whole answer, for a connection no response object speaks for (the parser lost the request's framing). */
export function clientErrorReply(status: string): string {
  const body = clientErrorBody(status);
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}
