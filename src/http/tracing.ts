/**
 * What the relay needs of a tracer (--otel-endpoint): a server span per
 * request, and the span's context written into the environ for the app.
 *
 * The OpenTelemetry SDK and exporter live in `otel-tracer.ts` and are loaded
 * only when the flag is set (`loadTracer`): a child without it never imports
 * them, so it carries none of their memory or start-up time.
 */
import type { Environ } from '../../protocol/worker-messages.js';
import type { Exchange } from './exchange.js';

/** How a request ended, for its span. */
export interface RequestOutcome {
  status: number;
  /** Response body bytes sent. */
  bytes: number;
  /** Request body bytes received. */
  bodyBytes: number;
  /** Milliseconds it waited in the child for a worker slot (0 if it never waited or never got one). */
  queueWaitMs: number;
  /** The worker process that ran it, if any. */
  workerPid: number | null;
  /** The client left before the response was complete. */
  clientGone: boolean;
}

export interface RequestSpan {
  /** Ends the span (idempotent: later calls do nothing). */
  end(outcome: RequestOutcome): void;
}

export interface RequestTracer {
  /**
   * Starts the server span of a request whose environ is built, continuing a
   * W3C `traceparent` it carries; rewrites HTTP_TRACEPARENT (and
   * HTTP_TRACESTATE) to the new span's context, so the app's spans are its
   * children.
   */
  start(environ: Environ, httpVersion: string): RequestSpan;
  /** Exports what is queued, within `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** The OTLP/HTTP traces URL for --otel-endpoint: a base URL gets `/v1/traces`, as OTEL_EXPORTER_OTLP_ENDPOINT does. */
/** The outcome of a request answered without a worker (status 0: none was sent). */
export const unserved = (status: number): RequestOutcome => ({ status, bytes: 0, bodyBytes: 0, queueWaitMs: 0, workerPid: null, clientGone: false });

/** What a finished exchange's span records. */
export function outcomeOf(ex: Exchange): RequestOutcome {
  return {
    status: ex.res.statusCode,
    bytes: ex.bytes,
    bodyBytes: ex.bodyBytes,
    queueWaitMs: ex.dispatchedAt > 0 ? ex.dispatchedAt - ex.startedAt : 0,
    workerPid: ex.worker?.pid ?? null,
    clientGone: ex.clientGone,
  };
}

export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/traces';
  return url.toString();
}

/** Checks an --otel-endpoint value; throws with the reason. */
export function checkOtelEndpoint(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`'${raw}' is not a URL (expected e.g. http://collector:4318)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`'${raw}' is not an http(s) URL: the exporter speaks OTLP/HTTP`);
  return raw;
}

/** Loads the OpenTelemetry packages and starts the batch exporter to `endpoint`. */
export async function loadTracer(endpoint: string, log: (line: string) => void): Promise<RequestTracer> {
  const { createOtelTracer } = await import('./otel-tracer.js');
  return createOtelTracer(tracesUrl(endpoint), log);
}
