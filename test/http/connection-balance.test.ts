/** The fair-share rule: the controller's arithmetic and the child's decision to close a connection. */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionBalance, ConnectionShares, tolerance } from '../../src/http/connection-balance.js';

/** Two stats rounds of 500 ms, as the controller has it. */
const SILENT_MS = 1000;

describe('connection balance', () => {
  it('a child keeps the mean plus tolerance, or exactly the share while another child is short', () => {
    const shares = new ConnectionShares(SILENT_MS);
    assert.deepEqual(shares.report(1, 30, new Set([1])), { keep: 30 + tolerance(30), redirect: 0 });
    // 31 between two: 16 each; child 2 is 15 short, so child 1 keeps exactly 16, and child 2 redirects none (it is the short one).
    assert.deepEqual(shares.report(2, 1, new Set([1, 2])), { keep: 16, redirect: 0 });
    // A draining child's connections are not the serving children's to share.
    assert.deepEqual(shares.report(3, 50, new Set([1, 2])), { keep: 16, redirect: 0 });
    // 30 and 15: share 23, child 2 is still short by more than the tolerance: child 1 redirects the 8 it lacks.
    assert.deepEqual(shares.report(2, 15, new Set([1, 2])), { keep: 23, redirect: 0 });
    assert.deepEqual(shares.report(1, 30, new Set([1, 2])), { keep: 23, redirect: 8 });
    // 17 and 15: within the tolerance (1.6) of the mean, each keeps up to 16 + 1.6, rounded down, and redirects nothing.
    assert.deepEqual(shares.report(1, 17, new Set([1, 2])), { keep: 17, redirect: 0 });
    shares.forget(1);
    assert.deepEqual(shares.report(2, 15, new Set([1, 2])), { keep: 16, redirect: 0 });
    // 3 children sharing 32: the mean is 10.67, so each keeps up to 11 (not 13), and 9 is short (below 9.6): it lacks 2 of the share of 11.
    const three = new ConnectionShares(SILENT_MS);
    three.report(1, 12, new Set([1, 2, 3]));
    three.report(2, 10, new Set([1, 2, 3]));
    assert.deepEqual(three.report(3, 10, new Set([1, 2, 3])), { keep: 11, redirect: 0 });
    three.report(2, 11, new Set([1, 2, 3]));
    assert.deepEqual(three.report(3, 9, new Set([1, 2, 3])), { keep: 11, redirect: 0 });
    assert.deepEqual(three.report(1, 12, new Set([1, 2, 3])), { keep: 11, redirect: 2 });
    // A child that is not serving keeps what it has.
    assert.deepEqual(new ConnectionShares(SILENT_MS).report(7, 5, new Set()), { keep: 5, redirect: 0 });
  });

  it('redirected connections go to the child furthest below its share, until none is below it', () => {
    const shares = new ConnectionShares(SILENT_MS);
    const serving = new Set([1, 2, 3, 4]);
    // 32 connections, mean 8 (tolerance 1): child 3 lacks 2 and is short by more than the tolerance; child 4 lacks 1.
    shares.report(1, 10, serving);
    shares.report(2, 9, serving);
    shares.report(3, 6, serving);
    assert.deepEqual(shares.report(4, 7, serving), { keep: 8, redirect: 0 });
    assert.deepEqual(shares.report(1, 10, serving), { keep: 8, redirect: 2 });
    const to = Array.from({ length: 4 }, () => shares.target(1, serving));
    // 6 → 7 (child 3), then 7 and 7: the first found; every child below the share is filled up to it, then none is below.
    assert.deepEqual(to, [3, 3, 4, null]);
    // Those sent count until the child reports: no child is short any more, so none redirects.
    assert.deepEqual(shares.report(2, 9, serving), { keep: 9, redirect: 0 });
    // Never back to the child that sent it, nor to one that does not serve.
    assert.equal(shares.target(3, new Set([3])), null);
    // A child's report replaces what was sent to it: its count has them now.
    shares.report(3, 7, serving);
    assert.equal(shares.target(1, serving), 3);
    // A child gone is no target: child 4 is, short of the new share of 9 (26 among 3) even with the one sent.
    shares.forget(3);
    assert.equal(shares.target(1, serving), 4);
  });

  it('a child silent for two stats rounds is out of the balance: no share of the mean, no redirected connections', () => {
    let now = 0;
    const shares = new ConnectionShares(SILENT_MS, () => now);
    const serving = new Set([1, 2]);
    shares.report(2, 0, serving);
    // Child 2 is short and heard from: child 1 keeps 16 and sends it new connections.
    now = 500;
    assert.deepEqual(shares.report(1, 32, serving), { keep: 16, redirect: 16 });
    assert.equal(shares.target(1, serving), 2);
    // Child 2 stopped reporting (a stopped or blocked event loop): child 1 keeps all and sends it nothing.
    now = 1001;
    assert.deepEqual(shares.report(1, 32, serving), { keep: 32 + 3, redirect: 0 });
    assert.equal(shares.target(1, serving), null);
    assert.deepEqual(shares.toTell(1, serving), []);
    // It reports again: it is short, and child 1 is told now, not at its next report.
    now = 1200;
    shares.report(2, 0, serving);
    assert.deepEqual(shares.toTell(2, serving), [1]);
    assert.deepEqual(shares.answer(1, serving), { keep: 16, redirect: 16 });
    // Within the tolerance of the mean, nobody needs telling.
    shares.report(1, 17, serving);
    shares.report(2, 15, serving);
    assert.deepEqual(shares.toTell(2, serving), []);
  });

  it('an answer repeated for the same report closes no connection twice', () => {
    const balance = new ConnectionBalance();
    const sockets = Array.from({ length: 32 }, () => new Socket());
    for (const _ of sockets) balance.opened();
    balance.report();
    balance.share = { keep: 16, redirect: 16 };
    const first = sockets.filter((s) => balance.shed(s)).length;
    balance.share = { keep: 16, redirect: 16 }; // the controller told it again, when the short child reported
    const second = sockets.filter((s) => balance.shed(s)).length;
    assert.deepEqual([first, second, balance.closedTotal], [16, 16, 16]);
    // The next report starts over from the count it gives.
    for (const s of sockets.slice(0, 16)) balance.closed(s);
    balance.report();
    balance.share = { keep: 12, redirect: 0 };
    assert.equal(sockets.slice(16).filter((s) => balance.shed(s)).length, 4);
  });

  it('a child at its share redirects as many new connections as it was told, and only while it holds its share', () => {
    const balance = new ConnectionBalance();
    const sockets = Array.from({ length: 8 }, () => new Socket());
    for (const _ of sockets) balance.opened();
    assert.ok(!balance.redirects(), 'redirected before the controller sent a share');
    balance.report();
    balance.share = { keep: 8, redirect: 2 };
    assert.deepEqual([balance.redirects(), balance.redirects(), balance.redirects()], [true, true, false]);
    balance.share = { keep: 8, redirect: 5 };
    balance.closed(sockets[0]!);
    assert.ok(!balance.redirects(), 'redirected while below its share');
    balance.opened();
    assert.ok(balance.redirects());
    assert.equal(balance.redirectedTotal, 3);
  });

  it('a child over its share closes just its excess, each connection once, and none without a share', () => {
    const balance = new ConnectionBalance();
    const sockets = Array.from({ length: 30 }, () => new Socket());
    for (const _ of sockets) balance.opened();
    assert.ok(sockets.every((s) => !balance.shed(s)), 'shed before the controller sent a share');
    assert.equal(balance.report(), 30);
    balance.share = { keep: 16, redirect: 0 };
    const shed = sockets.filter((s) => balance.shed(s));
    assert.equal(shed.length, 14);
    // A marked connection stays marked (and is counted once); the others stay open, and so do connections that came later.
    assert.ok(shed.every((s) => balance.shed(s)));
    assert.equal(balance.closedTotal, 14);
    assert.ok(sockets.filter((s) => !shed.includes(s)).every((s) => !balance.shed(s)));
    const later = new Socket();
    balance.opened();
    assert.ok(!balance.shed(later));
    for (const s of shed) balance.closed(s);
    assert.equal(balance.connections, 17);
  });

  it('a share computed from an older, smaller count sheds nothing that arrived since', () => {
    const balance = new ConnectionBalance();
    assert.equal(balance.report(), 0);
    const sockets = Array.from({ length: 50 }, () => new Socket());
    for (const _ of sockets) balance.opened();
    balance.share = { keep: 0, redirect: 0 }; // the answer to the report of 0
    assert.ok(sockets.every((s) => !balance.shed(s)));
  });
});
