/** A front's accept gate: which waiting connections it offers to the hand-off, and when. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AcceptGate, HANDOFF_AFTER_MS, type RoomReport } from '../../src/http/connection-handoff.js';
import { waitFor } from '../helpers/wait.js';

describe('accept gate', () => {
  let server: net.Server;
  const accepted: net.Socket[] = [];
  const clients: net.Socket[] = [];

  before(async () => {
    server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    for (const s of [...accepted, ...clients]) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A real accepted connection, paused and unread, as a front gets one. */
  async function connection(): Promise<net.Socket> {
    const before = accepted.length;
    clients.push(net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'));
    return waitFor(() => (accepted.length > before ? accepted[accepted.length - 1] : undefined), 'the connection accepted', 5000, 1);
  }

  /** A gate of one slot, busy (every connection offered waits), on a clock the test moves. */
  function fullGate(reports: Array<Pick<RoomReport, 'spare' | 'waiting'>>, taken: net.Socket[], clock: { ms: number }): AcceptGate {
    return new AcceptGate(
      () => 1,
      1,
      () => 0,
      100,
      (s) => taken.push(s),
      () => {},
      ({ spare, waiting }) => reports.push({ spare, waiting }),
      true,
      () => 0,
      () => clock.ms,
    );
  }

  it(`offers a waiting connection to the hand-off only after ${HANDOFF_AFTER_MS} ms, and says so then`, async () => {
    const reports: Array<Pick<RoomReport, 'spare' | 'waiting'>> = [];
    const taken: net.Socket[] = [];
    const clock = { ms: 1000 };
    const gate = fullGate(reports, taken, clock);
    const socket = await connection();
    gate.offer(socket);
    assert.equal(gate.waiting, 1);
    // Under churn its own front frees a slot sooner than a move through the controller would: it is not offered yet.
    assert.deepEqual(reports, [{ spare: 0, waiting: 0 }]);
    clock.ms += HANDOFF_AFTER_MS - 1;
    assert.deepEqual(gate.give(1), []);
    // The gate's timer fires (on the real clock) and finds it movable only once the wait is long enough.
    await new Promise((r) => setTimeout(r, HANDOFF_AFTER_MS + 5));
    assert.equal(reports.length, 1, 'reported movable too soon');
    clock.ms += 1;
    await waitFor(() => reports.length >= 2, 'the report that the connection may move', 5000, 1);
    assert.deepEqual(reports[1], { spare: 0, waiting: 1 });
    assert.deepEqual(gate.give(1), [socket]);
    assert.equal(gate.waiting, 0);
    assert.deepEqual(taken, [], 'a connection given away is not read here');
  });

  it('offers the oldest connections first, and only those that waited long enough', async () => {
    const reports: Array<Pick<RoomReport, 'spare' | 'waiting'>> = [];
    const clock = { ms: 1000 };
    const gate = fullGate(reports, [], clock);
    const first = await connection();
    gate.offer(first);
    clock.ms += HANDOFF_AFTER_MS;
    const second = await connection();
    gate.offer(second);
    assert.equal(gate.movable, 1);
    assert.deepEqual(gate.give(2), [first]);
    assert.equal(gate.waiting, 1);
  });
});
