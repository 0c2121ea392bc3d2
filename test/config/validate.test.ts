/** Defaults worked out from the machine: the number of fronts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frontCount } from '../../src/config/validate.js';

test('fronts: one per two workers, at most one per core, at least one; --fronts as given but never more than the workers', () => {
  const twoCores: Array<[number, number]> = [
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 2],
    [8, 2],
  ];
  for (const [processes, fronts] of twoCores) assert.equal(frontCount(processes, null, 2), fronts, `--processes ${processes} on 2 cores`);
  assert.equal(frontCount(16, null, 16), 8);
  assert.equal(frontCount(64, null, 16), 16);
  assert.equal(frontCount(1, null, 1), 1);
  assert.equal(frontCount(4, 3, 2), 3);
  assert.equal(frontCount(2, 5, 2), 2);
});
