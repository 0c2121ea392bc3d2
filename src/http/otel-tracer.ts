/**
 * The RequestTracer on the official OpenTelemetry packages: one SERVER span
 * per request with the HTTP semantic conventions' attributes, exported by a
 * BatchSpanProcessor over OTLP/HTTP (JSON). Loaded only with --otel-endpoint
 * (see tracing.ts).
 *
 * Export is off the request path: ending a span only queues it; the batch
 * leaves on a timer. A collector that is down or slow costs dropped spans
 * (the queue is bounded) and one log line a minute, never a request's time.
 * The usual OTEL_* variables apply: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * (the resource), OTEL_EXPORTER_OTLP_HEADERS (the exporter), and
 * OTEL_TRACES_SAMPLER/OTEL_TRACES_SAMPLER_ARG, read here since this SDK
 * package does not (default parentbased_always_on).
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace';
import type { Environ } from '../../protocol/worker-messages.js';
import type { RequestOutcome, RequestSpan, RequestTracer } from './tracing.js';

/** How often queued spans leave (the SDK's default is 5 s). */
const EXPORT_EVERY_MS = 1000;
const EXPORT_TIMEOUT_MS = 10_000;
const QUEUE_SIZE = 4096;
const BATCH_SIZE = 512;
const ERROR_LOG_EVERY_MS = 60_000;

/** Reads W3C headers from the environ (`traceparent` → HTTP_TRACEPARENT). */
const environGetter: TextMapGetter<Environ> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[`HTTP_${key.toUpperCase().replaceAll('-', '_')}`],
};
const environSetter: TextMapSetter<Environ> = {
  set: (carrier, key, value) => {
    carrier[`HTTP_${key.toUpperCase().replaceAll('-', '_')}`] = value;
  },
};

class OtelRequestSpan implements RequestSpan {
  #span: Span | null;

  constructor(span: Span) {
    this.#span = span;
  }

  end(o: RequestOutcome): void {
    const span = this.#span;
    if (span === null) return;
    this.#span = null;
    const attributes: Attributes = {
      'http.response.body.size': o.bytes,
      'http.request.body.size': o.bodyBytes,
      'spawning.queue_wait_ms': o.queueWaitMs,
    };
    if (o.status > 0) attributes['http.response.status_code'] = o.status;
    if (o.workerPid !== null) attributes['spawning.worker.pid'] = o.workerPid;
    if (o.clientGone) attributes['spawning.client_gone'] = true;
    // Server spans: 5xx is an error, 4xx is the client's (semantic conventions, HTTP spans).
    if (o.status >= 500) {
      attributes['error.type'] = String(o.status);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.setAttributes(attributes);
    span.end();
  }
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the specification names them; null for an unknown name (the log says so). */
export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler | null {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const ratio = Number.isFinite(arg) ? Math.min(1, Math.max(0, arg)) : 1;
  const base = name.replace(/^parentbased_/, '');
  const root = base === 'always_on' ? new AlwaysOnSampler() : base === 'always_off' ? new AlwaysOffSampler() : base === 'traceidratio' ? new TraceIdRatioBasedSampler(ratio) : null;
  if (root === null) return null;
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

export function createOtelTracer(url: string, log: (line: string) => void): RequestTracer {
  let lastError = 0;
  setGlobalErrorHandler((err) => {
    const now = Date.now();
    if (now - lastError < ERROR_LOG_EVERY_MS) return;
    lastError = now;
    log(`OpenTelemetry export to ${url} failed (spans are dropped while it fails; next report in a minute at most): ${err instanceof Error ? err.message : String(err)}`);
  });
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'spawning', 'process.pid': process.pid }))
    .merge(detectResources({ detectors: [envDetector] }));
  const exporter = new OTLPTraceExporter({ url, timeoutMillis: EXPORT_TIMEOUT_MS });
  const processor = new BatchSpanProcessor({
    exporter,
    scheduledDelayMillis: EXPORT_EVERY_MS,
    maxQueueSize: QUEUE_SIZE,
    maxExportBatchSize: BATCH_SIZE,
    exportTimeoutMillis: EXPORT_TIMEOUT_MS,
  });
  let sampler = samplerFromEnv(process.env);
  if (sampler === null) {
    log(`OTEL_TRACES_SAMPLER=${process.env.OTEL_TRACES_SAMPLER}: not a sampler this server knows; using parentbased_always_on`);
    sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
  const provider = new TracerProvider({ resource, spanProcessors: [processor], sampler });
  const tracer = provider.getTracer('spawning');
  const propagator = new W3CTraceContextPropagator();

  return {
    start(environ, httpVersion) {
      const parent = environ.HTTP_TRACEPARENT === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, environ, environGetter);
      const method = environ.REQUEST_METHOD ?? 'GET';
      const attributes: Attributes = {
        'http.request.method': method,
        'url.path': (environ.SCRIPT_NAME ?? '') + (environ.PATH_INFO ?? ''),
        'url.scheme': environ['wsgi.url_scheme'] ?? 'http',
        'server.address': environ.HTTP_HOST?.replace(/:\d+$/, '') ?? environ.SERVER_NAME ?? '',
        'network.protocol.version': httpVersion,
        'client.address': environ.REMOTE_ADDR ?? '',
      };
      const port = Number(environ.SERVER_PORT);
      if (port > 0) attributes['server.port'] = port;
      if (environ.QUERY_STRING) attributes['url.query'] = environ.QUERY_STRING;
      if (environ.HTTP_USER_AGENT !== undefined) attributes['user_agent.original'] = environ.HTTP_USER_AGENT;
      const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
      // The app continues from this span, not from its caller's.
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), environ, environSetter);
      return new OtelRequestSpan(span);
    },
    async shutdown(timeoutMs) {
      await Promise.race([provider.shutdown(), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    },
  };
}
