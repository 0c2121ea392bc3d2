import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ageJitter, chooseAgeEviction, chooseMemoryEviction } from '../../machines/eviction-policy.js';

const MB = 1024 * 1024;

describe('eviction policy', () => {
  it('replaces the largest grown child once the total is over the limit', () => {
    const children = [
      { id: 1, rss: 300 * MB, initialRss: 70 * MB, readyAt: 0 },
      { id: 2, rss: 500 * MB, initialRss: 70 * MB, readyAt: 0 },
      { id: 3, rss: 75 * MB, initialRss: 70 * MB, readyAt: 5 },
    ];
    assert.equal(chooseMemoryEviction(1000 * MB, 900 * MB, children), null);
    assert.equal(chooseMemoryEviction(800 * MB, 900 * MB, children), 2);
  });

  it('leaves fresh-sized children alone, so a big app gets no restart storm', () => {
    const children = [
      { id: 1, rss: 400 * MB, initialRss: 390 * MB, readyAt: 0 },
      { id: 2, rss: 410 * MB, initialRss: 395 * MB, readyAt: 1 },
    ];
    assert.equal(chooseMemoryEviction(500 * MB, 810 * MB, children), null);
  });

  it('replaces the oldest child past max-age plus its jitter', () => {
    const maxAge = 60_000;
    for (const id of [1, 2, 3, 4, 5]) {
      const j = ageJitter(id, maxAge);
      assert.ok(j >= 0 && j <= 6000, `jitter ${j}`);
      assert.equal(j, ageJitter(id, maxAge), 'stable per child');
    }
    assert.notEqual(ageJitter(1, maxAge), ageJitter(2, maxAge), 'children started together get different limits');
    const children = [
      { id: 1, rss: 0, initialRss: 0, readyAt: 0 },
      { id: 2, rss: 0, initialRss: 0, readyAt: 1000 },
    ];
    assert.equal(chooseAgeEviction(maxAge, 30_000, children), null);
    assert.equal(chooseAgeEviction(maxAge, 80_000, children), 1);
  });
});
