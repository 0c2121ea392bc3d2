/** The fair-share rule: the controller's arithmetic and the child's decision to close a connection. */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionBalance, ConnectionShares, tolerance } from '../../src/http/connection-balance.js';

describe('connection balance', () => {
  it('the share is the serving children’s connections divided among them, rounded up', () => {
    const shares = new ConnectionShares();
    assert.equal(shares.report(1, 30, new Set([1])), 30);
    assert.equal(shares.report(2, 1, new Set([1, 2])), 16);
    // A draining child's connections are not the serving children's to share.
    assert.equal(shares.report(3, 50, new Set([1, 2])), 16);
    shares.forget(1);
    assert.equal(shares.report(2, 1, new Set([1, 2])), 1);
    // A child that is not serving keeps what it has.
    assert.equal(new ConnectionShares().report(7, 5, new Set()), 5);
  });

  it('a child over its share closes just enough connections, each once, and none without a share', () => {
    const balance = new ConnectionBalance();
    const sockets = Array.from({ length: 30 }, () => new Socket());
    for (const _ of sockets) balance.opened();
    assert.ok(sockets.every((s) => !balance.shed(s)), 'shed before the controller sent a share');
    balance.share = 15;
    const shed = sockets.filter((s) => balance.shed(s));
    assert.equal(shed.length, 30 - 15 - tolerance(15));
    // A marked connection stays marked; the others stay open.
    assert.ok(shed.every((s) => balance.shed(s)));
    assert.ok(sockets.filter((s) => !shed.includes(s)).every((s) => !balance.shed(s)));
    for (const s of shed) balance.closed(s);
    assert.equal(balance.connections, 15 + tolerance(15));
    assert.ok(!balance.shed(new Socket()));
  });
});
