/** A child's node flags: the controller's own, plus a starting old generation and a young generation limit unless they size them. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { CHILD_OLD_SPACE_MB, CHILD_SEMI_SPACE_MB, childNodeFlags } from '../../src/actors/child-process.js';

describe('child node flags', () => {
  it("keeps the controller's flags and adds the starting old generation and the young generation's limit", () => {
    assert.deepEqual(childNodeFlags(['--cpu-prof']), ['--cpu-prof', `--initial-old-space-size=${CHILD_OLD_SPACE_MB}`, `--max-semi-space-size=${CHILD_SEMI_SPACE_MB}`]);
  });

  it('leaves each generation alone when the flags size it already', () => {
    for (const flag of ['--initial-old-space-size=128', '--initial_old_space_size=128', '--initial-heap-size=64']) {
      assert.deepEqual(childNodeFlags([flag]), [flag, `--max-semi-space-size=${CHILD_SEMI_SPACE_MB}`]);
    }
    for (const flag of ['--max-semi-space-size=2', '--max_semi_space_size=2']) {
      assert.deepEqual(childNodeFlags([flag]), [flag, `--initial-old-space-size=${CHILD_OLD_SPACE_MB}`]);
    }
  });

  it('node accepts the flags (a misspelt V8 flag would stop every child at start)', () => {
    assert.equal(execFileSync(process.execPath, [...childNodeFlags([]), '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' }), 'ok');
  });
});
