/** Reading a running server's status service: where it listens, and one series of its /metrics. */
import assert from 'node:assert/strict';
import type { RunningServer } from './server.js';

/** The status service's base URL, from the line the controller logs once it is bound (--status-port). */
export async function statusUrl(server: RunningServer): Promise<string> {
  const line = await server.waitForStderr(/^spawning: status service on (\S+)\/status$/m);
  return /on (\S+)\/status/.exec(line)![1]!;
}

/** `name{labels} value` from a Prometheus exposition. */
export function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}
