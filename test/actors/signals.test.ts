/** Real signals sent to this process become controller events, and nothing else happens in the handler. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControllerEvent } from '../../machines/controller.js';
import { eventForSignal, forwardSignals } from '../../src/actors/signals.js';

describe('signals', () => {
  it('maps each signal to its event; the second SIGINT stops at once', () => {
    assert.deepEqual(eventForSignal('SIGTERM', 0), { type: 'STOP' });
    assert.deepEqual(eventForSignal('SIGINT', 0), { type: 'STOP' });
    assert.deepEqual(eventForSignal('SIGINT', 1), { type: 'STOP_NOW' });
    assert.deepEqual(eventForSignal('SIGHUP', 0), { type: 'RELOAD' });
    assert.deepEqual(eventForSignal('SIGTTIN', 0), { type: 'INCREASE' });
    assert.deepEqual(eventForSignal('SIGTTOU', 0), { type: 'DECREASE' });
    assert.equal(eventForSignal('SIGPIPE', 0), null);
  });

  it('forwards real signals as events and removes its handlers', async () => {
    const events: ControllerEvent[] = [];
    let reopened = 0;
    const before = process.listenerCount('SIGHUP');
    const remove = forwardSignals({ send: (e) => events.push(e), reopenLogs: () => reopened++ });
    for (const signal of ['SIGHUP', 'SIGINT', 'SIGUSR1', 'SIGINT', 'SIGTERM'] as const) {
      process.kill(process.pid, signal);
      await sleep(20);
    }
    remove();
    assert.deepEqual(events.map((e) => e.type), ['RELOAD', 'STOP', 'STOP_NOW', 'STOP']);
    assert.equal(reopened, 1);
    assert.equal(process.listenerCount('SIGHUP'), before);
  });
});
