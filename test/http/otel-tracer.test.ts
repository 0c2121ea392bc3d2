/** The sampler from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, and the traces URL from --otel-endpoint. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { samplerFromEnv } from '../../src/http/otel-tracer.js';
import { checkOtelEndpoint, tracesUrl } from '../../src/http/tracing.js';

test('samplers by their specification names', () => {
  assert.match(String(samplerFromEnv({})), /ParentBased\{root=AlwaysOnSampler/);
  assert.equal(String(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' })), 'AlwaysOffSampler');
  assert.equal(String(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })), 'TraceIdRatioBased{0.25}');
  assert.match(String(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.05' })), /ParentBased\{root=TraceIdRatioBased\{0.05\}/);
  assert.equal(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }), null);
});

test('a base URL gets /v1/traces; a full one is kept; anything else is refused', () => {
  assert.equal(tracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces');
  assert.equal(tracesUrl('http://collector:4318/'), 'http://collector:4318/v1/traces');
  assert.equal(tracesUrl('https://x.example/otlp/v1/traces'), 'https://x.example/otlp/v1/traces');
  assert.throws(() => checkOtelEndpoint('collector:4318x'), /not an http\(s\) URL|not a URL/);
  assert.throws(() => checkOtelEndpoint('grpc://collector:4317'), /not an http\(s\) URL/);
});
