/**
 * src/http/worker-set.ts against real Python workers (python -m spawning.worker
 * serving test/fixtures/child_apps.py), with the relay's side recorded.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { WorkerTag, type ResponseFrame } from '../../protocol/worker-messages.js';
import { PythonWorker } from '../../src/actors/python-worker.js';
import { WorkerSet, type RequestSink, type WorkerSetHooks } from '../../src/http/worker-set.js';
import { testChildConfig } from '../helpers/child-config.js';
import { waitFor } from '../helpers/wait.js';

const EACH = { timeout: 20_000 };

interface Recorder {
  set: WorkerSet;
  events: string[];
  frames: Array<{ frame: ResponseFrame; pid: number }>;
  lost: number[];
}

function workerSet(size: number, app = 'child_apps.app'): Recorder {
  const events: string[] = [];
  const frames: Recorder['frames'] = [];
  const lost: number[] = [];
  const hooks: WorkerSetHooks = {
    ready: () => events.push('ready'),
    loadFailed: (error, code) => events.push(`loadFailed ${code} ${error.kind}`),
    exited: (code, remaining) => events.push(`exited ${code} ${remaining}`),
    replacementReady: () => events.push('replacementReady'),
    replacementExited: () => events.push('replacementExited'),
    retireeIdle: (pid) => events.push(`retireeIdle ${pid}`),
    modules: () => {},
    log: (line) => events.push(`log ${line}`),
  };
  const sink: RequestSink = {
    frame: (frame, worker) => void frames.push({ frame, pid: worker.pid }),
    available: () => void events.push('available'),
    lost: (worker) => {
      lost.push(worker.pid);
      return 0;
    },
  };
  const set = new WorkerSet(() => new PythonWorker(testChildConfig({ processes: size }, { args: [app], workers: size })), hooks, size);
  set.connect(sink);
  sets.push(set);
  return { set, events, frames, lost };
}

const sets: WorkerSet[] = [];
after(() => sets.forEach((s) => s.killAll()));

const environ = (path: string): Record<string, string> => ({
  REQUEST_METHOD: 'GET',
  PATH_INFO: path,
  QUERY_STRING: '',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1',
  SCRIPT_NAME: '',
  REMOTE_ADDR: '127.0.0.1',
  'wsgi.url_scheme': 'http',
});

describe('WorkerSet', () => {
  it('reports ready once all its workers loaded the app, and gives each request to the least loaded', EACH, async () => {
    const { set, events, frames } = workerSet(2);
    set.fill();
    await waitFor(() => events.includes('ready'), 'ready');
    assert.equal(events.filter((e) => e === 'ready').length, 1, 'ready once for the whole set');
    assert.equal(set.pick(), null, 'no worker serves before attach');
    set.attach();
    const first = set.pick()!;
    set.give(first);
    const second = set.pick()!;
    assert.notEqual(second.pid, first.pid, 'the second request goes to the idle worker');
    set.give(second);
    set.settle(first);
    assert.equal(set.pick()?.pid, first.pid, 'the worker that finished takes the next');

    // A real request through the second worker: its answer comes back with that worker.
    second.send([WorkerTag.REQUEST, 7, environ('/hello'), false]);
    const done = (tag: number): boolean => tag === WorkerTag.END || tag === WorkerTag.RESPONSE;
    await waitFor(() => frames.some((f) => f.frame[1] === 7 && done(f.frame[0])), 'the end of the response');
    const mine = frames.filter((f) => f.frame[1] === 7);
    assert.ok(mine.every((f) => f.pid === second.pid), 'every frame of the request names the worker that ran it');
    const body = mine.flatMap((f) => (f.frame[0] === WorkerTag.CHUNK ? [Buffer.from(f.frame[2])] : f.frame[0] === WorkerTag.RESPONSE ? [Buffer.from(f.frame[4])] : []));
    assert.equal(Buffer.concat(body).toString(), 'Hello, world!');
  });

  it('a worker that dies leaves the others serving; failExited answers its requests only', EACH, async () => {
    const { set, events, lost } = workerSet(2);
    set.fill();
    await waitFor(() => events.includes('ready'), 'ready');
    set.attach();
    const [a, b] = set.all();
    set.give(a!);
    a!.kill('SIGKILL');
    await waitFor(() => events.find((e) => e.startsWith('exited')), 'the exit');
    assert.ok(events.includes('exited null 1'), events.join('; '));
    assert.equal(set.isServing(a!), false);
    assert.equal(set.pick()?.pid, b!.pid, 'the survivor takes requests');
    set.failExited();
    assert.deepEqual(lost, [a!.pid]);
    assert.equal(set.lastExit?.pid, a!.pid);
    // Filling up starts one new worker; the set is ready again once it loaded the app.
    set.fill();
    assert.equal(set.all().length, 2);
    await waitFor(() => events.filter((e) => e === 'ready').length === 2, 'ready again');
  });

  it('a replacement takes the place of the hung worker, which retires and is idle once its requests are settled', EACH, async () => {
    const { set, events } = workerSet(2);
    set.fill();
    await waitFor(() => events.includes('ready'), 'ready');
    set.attach();
    const [a, b] = set.all();
    set.give(a!);
    set.replaceNext(a!, 'hung');
    set.startReplacement();
    await waitFor(() => events.includes('replacementReady'), 'the replacement ready');
    assert.equal(set.promote()?.oldPid, a!.pid);
    assert.equal(set.isServing(a!), false, 'the hung worker takes no new requests');
    assert.equal(set.isServing(b!), true, 'the other worker is untouched');
    assert.equal(set.all().length, 3, 'two current workers and the retiree');
    assert.ok(!events.some((e) => e.startsWith('retireeIdle')), 'not idle while it has a request');
    set.settle(a!);
    assert.ok(events.includes(`retireeIdle ${a!.pid}`), events.join('; '));
  });

  it('an evicted worker retires, finishes its request, and is asked to exit: it ends by itself (code 0), not killed', EACH, async () => {
    const { set, events } = workerSet(2);
    set.fill();
    await waitFor(() => events.includes('ready'), 'ready');
    set.attach();
    const [a, b] = set.all();
    const exited = new Promise<[number | null, string | null]>((resolve) => a!.on('exit', (code, signal) => resolve([code, signal])));
    set.give(a!);
    set.replaceNext(a!, 'memory');
    assert.deepEqual(set.outgoing, { pid: a!.pid, why: 'memory' });
    set.startReplacement();
    assert.deepEqual(
      set.roles().map((r) => r.role),
      ['serving', 'serving', 'starting'],
    );
    await waitFor(() => events.includes('replacementReady'), 'the replacement ready');
    const swap = set.promote();
    assert.deepEqual(swap && [swap.oldPid, swap.why], [a!.pid, 'memory']);
    assert.equal(set.servingWorker(a!.pid), null);
    assert.equal(set.servingWorker(b!.pid), b!);
    assert.equal(set.servingWorker(swap!.newPid)?.pid, swap!.newPid);
    assert.deepEqual(
      set.roles().map((r) => [r.worker.pid, r.role]),
      [
        [b!.pid, 'serving'],
        [swap!.newPid, 'serving'],
        [a!.pid, 'retiring'],
      ],
    );
    set.settle(a!);
    assert.ok(events.includes(`retireeIdle ${a!.pid}`), events.join('; '));
    set.killRetiree(a!.pid);
    assert.deepEqual(await exited, [0, null]);
    await waitFor(() => set.all().length === 2, 'the retiree gone from the set');
  });

  it('a worker that cannot import the app is a load error with exit code 3', EACH, async () => {
    const { set, events } = workerSet(1, 'broken_syntax.app');
    set.fill();
    const failed = await waitFor(() => events.find((e) => e.startsWith('loadFailed')), 'the load error');
    assert.equal(failed, 'loadFailed 3 syntax-error');
    assert.ok(!events.includes('ready'));
  });
});
