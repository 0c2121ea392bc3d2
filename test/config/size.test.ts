import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSize, parseMemorySize, parseSize, SizeError } from '../../src/config/size.js';

const K = 1024;
const M = K * K;
const G = K * M;

describe('sizes', () => {
  it('reads the units people write', () => {
    assert.equal(parseSize('512M'), 512 * M);
    assert.equal(parseSize('1G'), G);
    assert.equal(parseSize('2048K'), 2048 * K);
    assert.equal(parseSize('2048k'), 2048 * K);
    assert.equal(parseSize('1.5G'), 1.5 * G);
    assert.equal(parseSize('64KB'), 64 * K);
    assert.equal(parseSize('10MiB'), 10 * M);
    assert.equal(parseSize(' 3 g '), 3 * G);
    assert.equal(parseSize('2T'), 2 * K * G);
    assert.equal(parseSize('100B'), 100);
    assert.equal(parseSize('.5M'), 512 * K);
  });

  it('takes a plain number in the unit the caller names: megabytes for --max-memory, as in the seed', () => {
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseMemorySize('512'), 512 * M);
    assert.equal(parseMemorySize('512M'), 512 * M);
    assert.equal(parseMemorySize('100B'), 100, 'an explicit B still means bytes');
  });

  it('rejects bad input with one clear line and a stable code', () => {
    const cases: [string, RegExp][] = [
      ['', /got an empty value/],
      ['lots', /got 'lots'/],
      ['12X', /got '12X'/],
      ['-5M', /got a negative size '-5M'/],
      ['1.2.3M', /got '1.2.3M'/],
      ['M', /got 'M'/],
      ['1e3M', /got '1e3M'/],
    ];
    for (const [raw, re] of cases) {
      assert.throws(
        () => parseMemorySize(raw),
        (err: unknown) => {
          assert.ok(err instanceof SizeError);
          assert.equal(err.code, 'SPAWNING_ERR_SIZE');
          assert.match(err.message, /^expected a size like 512M, 1G or 2048K \(a plain number is megabytes\), got /);
          assert.match(err.message, re);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
        raw,
      );
    }
    assert.throws(() => parseSize('99999999999T'), /size '99999999999T' is too large/);
  });

  it('formats sizes back for log lines', () => {
    assert.equal(formatSize(512 * M), '512M');
    assert.equal(formatSize(1.5 * G), '1.5G');
    assert.equal(formatSize(800 * K), '800K');
    assert.equal(formatSize(12), '12B');
    assert.equal(formatSize(parseSize('2048K')), '2M');
  });
});
