/**
 * --threads=0: one worker holds thousands of waiting requests, each in its own
 * greenlet (COMET), with gevent or eventlet.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { burst, statusCounts } from '../helpers/burst.js';
import { connect } from '../helpers/http.js';
import { killAllServers, runCli, startServer } from '../helpers/server.js';
import { VENV_PYTHON } from '../helpers/repo.js';

after(() => killAllServers());

interface WorkerInfo {
  multithread: boolean;
  socket: string;
}

/** How the worker behind `port` runs requests (the fixture's /info). */
async function workerInfo(port: number): Promise<WorkerInfo> {
  const [answer] = (await burst(port, '/info', 1)).answers;
  assert.equal(answer?.status, 200);
  return JSON.parse(answer.body) as WorkerInfo;
}

describe('green threads', { timeout: 120_000 }, () => {
  test('gevent: 2,000 concurrent long polls of 2 s on one process all succeed in under 4 s', async () => {
    // --max-green 2000: every poll runs at once (the default, 1000, would run them in two rounds).
    const server = await startServer({ args: ['--processes', '1', '--threads', '0', '--max-green', '2000', '-l', '/dev/null', 'concurrency_apps:app'] });
    try {
      const info = await workerInfo(server.port);
      assert.deepEqual([info.multithread, info.socket.startsWith('gevent')], [false, true]);
      const result = await burst(server.port, '/gevent-sleep?s=2', 2000);
      assert.deepEqual([...result.errors], []);
      assert.deepEqual(statusCounts(result.answers), { 200: 2000 });
      assert.ok(result.answers.every((a) => a.body === 'woke'));
      assert.ok(result.ms >= 2000, `answered before the 2 s wait: ${result.ms} ms`);
      assert.ok(result.ms < 4000, `2,000 long polls took ${Math.round(result.ms)} ms`);
      process.stdout.write(`# 2,000 long polls of 2 s: ${Math.round(result.ms)} ms\n`);
    } finally {
      await server.stop();
    }
  });

  test('eventlet: concurrent waits run side by side', async () => {
    const server = await startServer({ args: ['--processes', '1', '--threads', '0', '--green', 'eventlet', '-l', '/dev/null', 'concurrency_apps:app'] });
    try {
      const info = await workerInfo(server.port);
      assert.deepEqual([info.multithread, info.socket.startsWith('eventlet')], [false, true]);
      const result = await burst(server.port, '/sleep?s=1', 500);
      assert.deepEqual(statusCounts(result.answers), { 200: 500 });
      assert.ok(result.ms < 3000, `500 waits of 1 s took ${Math.round(result.ms)} ms`);
    } finally {
      await server.stop();
    }
  });

  for (const library of ['gevent', 'eventlet']) {
    test(`${library}: a long poll whose client left gives its greenlet back at once`, async () => {
      // Two greenlets, both taken by 30 s polls whose clients then leave: the next requests must not wait 30 s for them.
      const server = await startServer({ args: ['--processes', '1', '--threads', '0', '--green', library, '--max-green', '2', '-l', '/dev/null', 'concurrency_apps:app'] });
      try {
        const polls = await Promise.all([0, 1].map(() => connect({ port: server.port })));
        for (const socket of polls) socket.write('GET /sleep?s=30 HTTP/1.1\r\nHost: test\r\n\r\n');
        await sleep(500); // both polls are in the app now
        for (const socket of polls) socket.destroy();
        const result = await burst(server.port, '/sleep?s=0.2', 2);
        assert.deepEqual(statusCounts(result.answers), { 200: 2 });
        assert.ok(result.ms < 3000, `the next requests waited ${Math.round(result.ms)} ms for the abandoned polls' greenlets`);
      } finally {
        await server.stop();
      }
    });
  }

  test('an interpreter without the library: one line naming the package, exit 2', async () => {
    // A sitecustomize on PYTHONPATH hides gevent, as in an app's venv that never installed it.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spawning-no-gevent-'));
    writeFileSync(
      path.join(dir, 'sitecustomize.py'),
      "import sys\nclass _Block:\n    def find_spec(self, name, path=None, target=None):\n        if name.split('.')[0] == 'gevent':\n            raise ImportError(\"No module named 'gevent'\")\nsys.meta_path.insert(0, _Block())\n",
    );
    const result = await runCli(['--host', '127.0.0.1', '--port', '0', '--python', VENV_PYTHON, '--threads', '0', 'concurrency_apps:app'], { env: { PYTHONPATH: dir } });
    assert.equal(result.code, 2, result.stderr);
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('spawning: error:'));
    assert.equal(errors.length, 1, result.stderr);
    process.stdout.write(`# ${errors[0]}\n`);
    assert.match(errors[0]!, /--threads=0 needs the 'gevent' package, which interpreter .* lacks \(pip install gevent\).*\[SPAWNING_ERR_PYTHON_ENV\]$/);
  });
});
