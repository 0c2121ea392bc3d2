/** ClientErrorLog: full lines, summaries, and a fresh start after a quiet interval (flushed by hand: no clock involved). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientErrorLog, FULL_LINES, RESET } from '../../src/http/client-error.js';

function logWith(intervalMs: number): { log: ClientErrorLog; lines: string[] } {
  const lines: string[] = [];
  const log = new ClientErrorLog((line) => void lines.push(line), 'child: ');
  // Long enough that its own timer never fires during the test; flush() stands in for it.
  log.configure(intervalMs);
  return { log, lines };
}

test('the first few of a kind in full, then one summary per interval with the addresses counted', () => {
  const { log, lines } = logWith(3_600_000);
  for (let i = 0; i < 1532; i++) log.report('400 Bad Request', `10.0.0.${i % 12}`, 'HPE_INVALID_METHOD', 'Parse Error: Invalid method');
  log.report(RESET, '10.0.0.1', 'ECONNRESET', 'while the request was read');
  assert.equal(lines.length, FULL_LINES + 1);
  assert.equal(lines[0], 'child: 400 for 10.0.0.0: HPE_INVALID_METHOD Parse Error: Invalid method\n');
  assert.match(lines[FULL_LINES - 1]!, /\(more of this kind are counted and summed up every 3,600 s\)\n$/);
  assert.equal(lines[FULL_LINES], 'child: reset for 10.0.0.1: ECONNRESET while the request was read\n');
  log.flush();
  assert.equal(lines[FULL_LINES + 1], `child: 400 bad request ×${(1532 - FULL_LINES).toLocaleString('en-US')} from 12 addresses in the last 3,600 s\n`);
  assert.equal(lines.length, FULL_LINES + 2);
  assert.deepEqual(log.counts, { '400': 1532, reset: 1 });
});

test('a kind goes on being summed up while it keeps coming, and is logged in full again after a quiet interval', () => {
  const { log, lines } = logWith(3_600_000);
  for (let i = 0; i < FULL_LINES + 1; i++) log.report('408 Request Timeout', '::1', 'ERR_HTTP_REQUEST_TIMEOUT', 'Request timeout');
  log.flush();
  const before = lines.length;
  log.report('408 Request Timeout', '::1', 'ERR_HTTP_REQUEST_TIMEOUT', 'Request timeout');
  assert.equal(lines.length, before, 'still under attack: counted, not written');
  log.flush();
  assert.match(lines.at(-1)!, /408 request timeout ×1 from 1 address in the last/);
  log.flush(); // a quiet interval
  log.report('408 Request Timeout', '::1', 'ERR_HTTP_REQUEST_TIMEOUT', 'Request timeout');
  assert.equal(lines.at(-1), 'child: 408 for ::1: ERR_HTTP_REQUEST_TIMEOUT Request timeout\n');
});

test('interval 0 writes every one in full', () => {
  const { log, lines } = logWith(0);
  for (let i = 0; i < 20; i++) log.report('431 Request Header Fields Too Large', '127.0.0.1', 'HPE_HEADER_OVERFLOW', 'Header overflow');
  assert.equal(lines.length, 20);
});
