/** SIGTERM drains in-flight requests and exits 0; a second SIGINT stops at once. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection, requestHead } from '../helpers/http.js';
import { descendants, isAlive } from '../helpers/processes.js';
import { startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('signals', { timeout: 120_000 }, () => {
  test('SIGTERM: the in-flight slow request completes, then exit 0', async () => {
    const server = await startServer({ args: ['--processes', '2', '-l', '/dev/null', 'integration_apps:app'] });
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', '/slow?seconds=2'));
      await new Promise((r) => setTimeout(r, 400));
      const tree = descendants(server.proc.pid!).map((p) => p.pid);
      server.proc.kill('SIGTERM');
      const res = await conn.next({ timeoutMs: 10_000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'slept');
      const exit = await server.exited;
      assert.deepEqual(exit, { code: 0, signal: null });
      await waitFor(() => tree.every((pid) => !isAlive(pid)), 'children and workers to exit', 5000);
    } finally {
      conn.destroy();
      await server.stop('SIGKILL');
    }
  });

  test('a second SIGINT exits at once, without waiting for a 30 s request', async () => {
    const server = await startServer({ args: ['--processes', '1', '-l', '/dev/null', 'integration_apps:app'] });
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', '/slow?seconds=30'));
      await new Promise((r) => setTimeout(r, 400));
      const tree = descendants(server.proc.pid!).map((p) => p.pid);
      server.proc.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(server.proc.exitCode, null, 'the first SIGINT drains: still running');
      const started = Date.now();
      server.proc.kill('SIGINT');
      const exit = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('still running'), 3000))]);
      assert.notEqual(exit, 'still running');
      assert.ok(Date.now() - started < 3000);
      await waitFor(() => tree.every((pid) => !isAlive(pid)), 'children and workers to exit', 3000);
    } finally {
      conn.destroy();
      await server.stop('SIGKILL');
    }
  });
});
