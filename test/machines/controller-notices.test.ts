/** The controller's notice stream: synchronous delivery in order, and unsubscribing, also mid-delivery. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controllerNotices, type ControllerNotice } from '../../machines/controller-notices.js';

describe('controller notices', () => {
  it('delivers each notice at once to every listener, in subscription order', () => {
    const notices = controllerNotices();
    const heard: string[] = [];
    notices.subscribe((n) => heard.push(`a:${n.type}`));
    notices.subscribe((n) => heard.push(`b:${n.type}`));
    notices.publish({ type: 'reload-started', generation: 2 });
    notices.publish({ type: 'reloaded', generation: 2 });
    assert.deepEqual(heard, ['a:reload-started', 'b:reload-started', 'a:reloaded', 'b:reloaded']);
  });

  it('stops delivering to a listener that unsubscribed, and only to that subscription', () => {
    const notices = controllerNotices();
    const heard: ControllerNotice[] = [];
    const listener = (n: ControllerNotice): void => void heard.push(n);
    const first = notices.subscribe(listener);
    notices.subscribe(listener);
    first();
    first();
    notices.publish({ type: 'child-ready', id: 1 });
    assert.deepEqual(heard, [{ type: 'child-ready', id: 1 }]);
  });

  it('lets the other listeners hear the notice during which one unsubscribes', () => {
    const notices = controllerNotices();
    const heard: string[] = [];
    const unsubscribe = notices.subscribe((n) => {
      heard.push(`once:${n.type}`);
      unsubscribe();
    });
    notices.subscribe((n) => heard.push(`always:${n.type}`));
    notices.publish({ type: 'reloaded', generation: 2 });
    notices.publish({ type: 'reloaded', generation: 3 });
    assert.deepEqual(heard, ['once:reloaded', 'always:reloaded', 'always:reloaded']);
  });
});
