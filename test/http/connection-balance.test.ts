/** The fair-share rule: the controller's arithmetic and the child's decision to close a connection. */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionBalance, ConnectionShares, tolerance } from '../../src/http/connection-balance.js';

describe('connection balance', () => {
  it('a child keeps the fair share plus tolerance, or exactly the share while another child is short', () => {
    const shares = new ConnectionShares();
    assert.equal(shares.report(1, 30, new Set([1])), 30 + tolerance(30));
    // 31 between two: 16 each; child 2 is 15 short, so child 1 keeps exactly 16.
    assert.equal(shares.report(2, 1, new Set([1, 2])), 16);
    // A draining child's connections are not the serving children's to share.
    assert.equal(shares.report(3, 50, new Set([1, 2])), 16);
    // 30 and 15: share 23, child 2 is still short by more than the tolerance.
    assert.equal(shares.report(2, 15, new Set([1, 2])), 23);
    // 17 and 15: within the tolerance of each other, each keeps up to share + tolerance.
    assert.equal(shares.report(1, 17, new Set([1, 2])), 16 + tolerance(16));
    shares.forget(1);
    assert.equal(shares.report(2, 15, new Set([1, 2])), 15 + tolerance(15));
    // A child that is not serving keeps what it has.
    assert.equal(new ConnectionShares().report(7, 5, new Set()), 5);
  });

  it('a child over its share closes just its excess, each connection once, and none without a share', () => {
    const balance = new ConnectionBalance();
    const sockets = Array.from({ length: 30 }, () => new Socket());
    for (const _ of sockets) balance.opened();
    assert.ok(sockets.every((s) => !balance.shed(s)), 'shed before the controller sent a share');
    assert.equal(balance.report(), 30);
    balance.share = 16;
    const shed = sockets.filter((s) => balance.shed(s));
    assert.equal(shed.length, 14);
    // A marked connection stays marked; the others stay open, and so do connections that came later.
    assert.ok(shed.every((s) => balance.shed(s)));
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
    balance.share = 0; // the answer to the report of 0
    assert.ok(sockets.every((s) => !balance.shed(s)));
  });
});
