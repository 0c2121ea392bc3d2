/**
 * `spawning fleet status|reload|drain` without a fleet: bad commands and an
 * unreachable NATS server. Against real fleets: test/integration/fleet.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/server.js';

describe('spawning fleet', () => {
  test('a bad fleet command ends with one line and exit 2 before connecting', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['fleet', 'bogus'], /unknown fleet command 'bogus' \(status, reload, drain\)/],
      [['fleet', 'drain', '--nats', 'nats://127.0.0.1:1'], /spawning fleet drain needs one NODE name/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trim(), new RegExp(`^spawning: error: .*${message.source}`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('a fleet command with no NATS server says so and exits 5', async () => {
    const r = await runCli(['fleet', 'status', '--nats', 'nats://127.0.0.1:1']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /^spawning: error: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.* \[SPAWNING_ERR_FLEET\]$/m);
  });
});
