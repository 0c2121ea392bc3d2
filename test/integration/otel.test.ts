/**
 * --otel-endpoint against a receiver that decodes what the official OTLP/HTTP
 * exporter sends (OTLP JSON: resourceSpans → scopeSpans → spans), and against
 * a collector that never answers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: OtlpValue }>;
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: OtlpValue }> }; scopeSpans: Array<{ scope: { name: string }; spans: OtlpSpan[] }> }>;
}

const SERVER = 2; // SpanKind.SERVER in OTLP

function attrs(list: Array<{ key: string; value: OtlpValue }>): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries(list.map(({ key, value }) => [key, value.stringValue ?? value.doubleValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue)]));
}

describe('OpenTelemetry server spans', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let receiver: http.Server;
  const exports: OtlpExport[] = [];
  const paths: string[] = [];
  const spans = (): Array<OtlpSpan & { resource: Record<string, unknown> }> =>
    exports.flatMap((e) => e.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, resource: attrs(rs.resource.attributes) })))));

  before(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
        exports.push(JSON.parse(Buffer.concat(chunks).toString()) as OtlpExport);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as net.AddressInfo).port;
    server = await startServer({
      args: ['--processes', '1', '--threads', '2', '--otel-endpoint', `http://127.0.0.1:${port}`, 'edge_apps:app'],
      env: { OTEL_SERVICE_NAME: 'edge-test' },
    });
  });

  after(async () => {
    await server?.stop();
    receiver?.close();
  });

  test('a request with a traceparent is a SERVER span in that trace; the app sees the span as its parent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const res = await fetch(`http://127.0.0.1:${server.port}/environ?x=1`, { headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'vendor=abc', 'user-agent': 'otel-test' } });
    const body = await res.text();
    const seen = JSON.parse(body) as { HTTP_TRACEPARENT: string; HTTP_TRACESTATE: string };
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen.HTTP_TRACEPARENT);
    assert.ok(m, seen.HTTP_TRACEPARENT);
    assert.equal(m[1], traceId);
    assert.notEqual(m[2], callerSpan);
    assert.equal(seen.HTTP_TRACESTATE, 'vendor=abc');
    const span = await waitFor(() => spans().find((s) => s.traceId === traceId), 'the span at the receiver');
    assert.equal(span.spanId, m[2]);
    assert.equal(span.parentSpanId, callerSpan);
    assert.equal(span.kind, SERVER);
    assert.equal(span.name, 'GET');
    const a = attrs(span.attributes);
    assert.equal(a['http.request.method'], 'GET');
    assert.equal(a['url.path'], '/environ');
    assert.equal(a['url.query'], 'x=1');
    assert.equal(a['url.scheme'], 'http');
    assert.equal(a['http.response.status_code'], 200);
    assert.equal(a['http.response.body.size'], Buffer.byteLength(body));
    assert.equal(a['network.protocol.version'], '1.1');
    assert.equal(a['user_agent.original'], 'otel-test');
    assert.equal(a['client.address'], '127.0.0.1');
    assert.equal(typeof a['spawning.queue_wait_ms'], 'number');
    assert.equal(typeof a['spawning.worker.pid'], 'number');
    assert.equal(span.resource['service.name'], 'edge-test');
    assert.match(paths[0]!, /^POST \/v1\/traces application\/json/);
  });

  test('a request without one starts a trace; a 404 is not an error, the body size counts', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/nowhere`, { method: 'POST', body: 'x'.repeat(1000) });
    assert.equal(res.status, 404);
    await res.text();
    const span = await waitFor(() => spans().find((s) => attrs(s.attributes)['url.path'] === '/nowhere'), 'the span of /nowhere');
    assert.equal(span.parentSpanId ?? '', '');
    const a = attrs(span.attributes);
    assert.equal(a['http.request.method'], 'POST');
    assert.equal(a['http.response.status_code'], 404);
    assert.equal(a['http.request.body.size'], 1000);
    assert.notEqual(span.status?.code, 2);
  });
});

describe('OpenTelemetry with a collector that never answers', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let blackhole: net.Server;
  const held: net.Socket[] = [];
  let received = 0;

  before(async () => {
    blackhole = net.createServer((socket) => {
      held.push(socket);
      socket.on('data', (d: Buffer) => (received += d.length));
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as net.AddressInfo).port;
    server = await startServer({ args: ['--processes', '1', '--threads', '2', '--otel-endpoint', `http://127.0.0.1:${port}/v1/traces`, 'edge_apps:app'] });
  });

  after(async () => {
    for (const s of held) s.destroy();
    await server?.stop();
    blackhole?.close();
  });

  test('requests are served while an export hangs', async () => {
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`http://127.0.0.1:${server.port}/hello`)).status, 200);
    await waitFor(() => received > 0, 'an export to reach the silent collector');
    // The export is stuck now (nobody answers it); requests go on regardless.
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`http://127.0.0.1:${server.port}/hello`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Hello, world!');
    }
  });
});
