/** machines/eviction-policy.ts with concrete numbers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ageJitter,
  backoffUntil,
  chooseAgeEviction,
  chooseMemoryEviction,
  decideEviction,
  fairShare,
  type EvictionWorker,
  type EvictionInput,
  type Replacement,
} from '../../machines/eviction-policy.js';

const MB = 1024 * 1024;
const MIN = 60_000;

const worker = (id: number, rssMb: number, initialMb = 70, readyAt = 0, state: EvictionWorker['state'] = 'ready'): EvictionWorker => ({
  id,
  rss: rssMb * MB,
  initialRss: initialMb * MB,
  readyAt,
  state,
});

const input = (over: Partial<EvictionInput>): EvictionInput => ({
  now: 10 * MIN,
  maxMemory: null,
  maxAgeMs: null,
  total: 0,
  workers: [],
  recent: [],
  ...over,
});

describe('eviction policy: --max-memory', () => {
  it('replaces the largest grown worker once the total is over the limit', () => {
    const workers = [worker(1, 300), worker(2, 500), worker(3, 75, 70, 5)];
    assert.equal(chooseMemoryEviction(1000 * MB, 900 * MB, workers), null);
    assert.equal(chooseMemoryEviction(800 * MB, 900 * MB, workers), 2);
    const d = decideEviction(input({ maxMemory: 800 * MB, total: 900 * MB, workers }));
    assert.deepEqual({ ...d, why: undefined }, { replace: 2, reason: 'memory', why: undefined, figures: { total_rss_bytes: 900 * MB, max_memory_bytes: 800 * MB, worker_rss_bytes: 500 * MB } });
    assert.match(d.why, /total RSS 900M is over --max-memory 800M; worker 2 is the largest \(500M\)/);
  });

  it('leaves fresh-sized workers alone, so a big app gets no restart storm', () => {
    const workers = [worker(1, 400, 390), worker(2, 410, 395, 1)];
    assert.equal(chooseMemoryEviction(500 * MB, 810 * MB, workers), null);
    assert.deepEqual(decideEviction(input({ maxMemory: 500 * MB, total: 810 * MB, workers })), { replace: null, why: 'no-candidate' });
  });

  it('replaces one at a time: nothing while a worker is starting or retiring', () => {
    const over = { maxMemory: 500 * MB, total: 900 * MB };
    assert.equal(decideEviction(input({ ...over, workers: [worker(1, 400), worker(2, 400, 70, 0, 'starting')] })).why, 'replacing');
    assert.equal(decideEviction(input({ ...over, workers: [worker(1, 400), worker(2, 400, 70, 0, 'retiring')] })).why, 'replacing');
    assert.equal(decideEviction(input({ ...over, workers: [worker(1, 400), worker(2, 400)], replacing: true })).why, 'replacing');
    assert.equal(decideEviction(input({ ...over, workers: [worker(1, 400), worker(2, 450)] })).replace, 2);
  });

  it('computes a fair share net of the controller', () => {
    // 1000M limit, controller and fronts 100M (total 700 - workers 600), 3 workers: 300M each.
    assert.equal(fairShare(1000 * MB, 700 * MB, [worker(1, 200), worker(2, 200), worker(3, 200)]), 300 * MB);
  });

  it('backs off when the fresh worker is already above its fair share, doubling per futile replacement', () => {
    // Limit 600M for 2 workers and 40M of controller and fronts: a fair share of 280M. The app weighs 350M fresh.
    const t0 = 10 * MIN;
    const futile = (n: number): Replacement[] =>
      Array.from({ length: n }, (_, i) => ({ oldId: 10 + i, newId: 20 + i, reason: 'memory' as const, at: t0 - (n - 1 - i) * 1000, ok: true }));
    const workers = (newId: number): EvictionWorker[] => [worker(1, 700, 300), worker(newId, 350, 350, t0)];
    const base = { maxMemory: 600 * MB, total: (700 + 350 + 40) * MB };

    const one = input({ ...base, now: t0 + 1000, workers: workers(20), recent: futile(1) });
    assert.equal(backoffUntil(one), t0 + 30_000);
    assert.deepEqual(decideEviction(one), { replace: null, why: 'backoff', until: t0 + 30_000 });
    assert.equal(decideEviction({ ...one, now: t0 + 30_001 }).replace, 1, 'after the back-off the grown worker goes');

    const three = input({ ...base, now: t0 + 1000, workers: workers(22), recent: futile(3) });
    // Only the last replacement's fresh worker is still alive: the streak is counted where it can be judged.
    assert.equal(backoffUntil(three), t0 + 30_000);

    // A streak of failures (new workers that never became ready) doubles: 30s, 60s, 120s, capped at 10min.
    const failed = (n: number): Replacement[] => Array.from({ length: n }, (_, i) => ({ oldId: 1, newId: 30 + i, reason: 'age' as const, at: t0, ok: false }));
    assert.equal(backoffUntil(input({ recent: failed(1) })), t0 + 30_000);
    assert.equal(backoffUntil(input({ recent: failed(3) })), t0 + 120_000);
    assert.equal(backoffUntil(input({ recent: failed(12) })), t0 + 10 * MIN);
  });

  it('does not back off after a replacement that worked (the fresh worker is small)', () => {
    const recent: Replacement[] = [{ oldId: 1, newId: 3, reason: 'memory', at: 10 * MIN - 1000, ok: true }];
    const workers = [worker(2, 600), worker(3, 80, 80, 10 * MIN - 2000)];
    const d = input({ maxMemory: 500 * MB, total: 720 * MB, workers, recent });
    assert.equal(backoffUntil(d), null);
    assert.equal(decideEviction(d).replace, 2, 'the next largest goes straight away');
  });

  it('says so when under the limit and with no limit at all', () => {
    assert.deepEqual(decideEviction(input({ maxMemory: 1000 * MB, total: 500 * MB, workers: [worker(1, 400)] })), { replace: null, why: 'under-limit' });
    assert.deepEqual(decideEviction(input({ total: 5000 * MB, workers: [worker(1, 4000)] })), { replace: null, why: 'no-limit' });
  });
});

describe('eviction policy: --max-age', () => {
  it('gives each worker a stable jitter of up to 10% of max-age, different per worker and per seed', () => {
    const maxAge = 60_000;
    const jitters = [1, 2, 3, 4, 5, 6, 7, 8].map((id) => ageJitter(id, maxAge));
    for (const j of jitters) assert.ok(j >= 0 && j < 6000, `jitter ${j}`);
    assert.deepEqual(jitters, [1, 2, 3, 4, 5, 6, 7, 8].map((id) => ageJitter(id, maxAge)), 'stable per worker');
    assert.ok(new Set(jitters).size >= 6, `workers started together get different limits: ${jitters.join(', ')}`);
    assert.notDeepEqual(jitters, [1, 2, 3, 4, 5, 6, 7, 8].map((id) => ageJitter(id, maxAge, 4242)), 'the seed changes the spread');
  });

  it('replaces the oldest worker past max-age plus its jitter, one at a time', () => {
    const maxAge = 60_000;
    const workers = [worker(1, 0, 0, 0), worker(2, 0, 0, 1000)];
    assert.equal(chooseAgeEviction(maxAge, 30_000, workers), null);
    assert.equal(chooseAgeEviction(maxAge, maxAge + ageJitter(1, maxAge), workers), null, 'exactly at the limit is not over it');
    assert.equal(chooseAgeEviction(maxAge, 80_000, workers), 1);
    const d = decideEviction(input({ now: 80_000, maxAgeMs: maxAge, workers }));
    assert.equal(d.replace, 1);
    assert.match(d.why, /worker 1 is 80s old, over --max-age 60s/);
    assert.equal(decideEviction(input({ now: 80_000, maxAgeMs: maxAge, workers: [workers[0]!, { ...workers[1]!, state: 'starting' }] })).why, 'replacing');
  });

  it('lets memory go before age', () => {
    const workers = [worker(1, 100, 70, 0), worker(2, 600, 70, 50_000)];
    const d = decideEviction(input({ now: 200_000, maxAgeMs: 60_000, maxMemory: 500 * MB, total: 720 * MB, workers }));
    assert.equal(d.replace, 2);
    assert.equal(d.replace !== null && d.reason, 'memory');
  });
});
