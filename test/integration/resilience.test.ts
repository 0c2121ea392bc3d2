/**
 * Failures of the processes behind the socket: a killed Python worker costs
 * only its in-flight requests (502) and is replaced; children killed all at
 * once leave connections waiting in the backlog, served when they return.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Connection, exchange, parseResponses, requestHead, responsesComplete } from '../helpers/http.js';
import { childPids, workerPids } from '../helpers/processes.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('process failures', { timeout: 120_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ args: ['--processes', '2', '--fronts', '2', '--threads', '4', '-l', '/dev/null', 'integration_apps:app'] });
  });
  after(async () => {
    await server?.stop();
  });

  /** A keep-alive connection and the pid of the worker behind it. */
  async function connectionWithWorker(accept: (pid: number) => boolean): Promise<{ conn: Connection; pid: number }> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const conn = await Connection.open({ port: server.port });
      conn.send(requestHead('GET', '/pid'));
      const res = await conn.next();
      assert.equal(res.status, 200);
      const pid = Number(res.body.toString());
      if (accept(pid)) return { conn, pid };
      conn.destroy();
    }
    throw new Error('no connection reached the wanted worker in 100 attempts');
  }

  test('a killed worker: its in-flight request gets 502, the other child is unaffected, the worker is replaced', async () => {
    const victim = await connectionWithWorker(() => true);
    const bystander = await connectionWithWorker((pid) => pid !== victim.pid);
    try {
      victim.conn.send(requestHead('GET', '/slow?seconds=10'));
      bystander.conn.send(requestHead('GET', '/slow?seconds=1.5'));
      // Both requests are now inside their apps.
      await new Promise((r) => setTimeout(r, 400));
      process.kill(victim.pid, 'SIGKILL');

      const started = Date.now();
      const failed = await victim.conn.next({ timeoutMs: 5000 });
      assert.equal(failed.status, 502);
      assert.ok(Date.now() - started < 5000);

      const unaffected = await bystander.conn.next({ timeoutMs: 5000 });
      assert.equal(unaffected.status, 200);
      assert.equal(unaffected.body.toString(), 'slept');
    } finally {
      victim.conn.destroy();
      bystander.conn.destroy();
    }

    // The dead worker's child starts a new one; every request succeeds meanwhile or after.
    const pids = await waitFor(() => {
      const live = workerPids(server.proc.pid!);
      return live.length === 2 && !live.includes(victim.pid) ? live : null;
    }, 'a replacement worker');
    assert.ok(pids.includes(bystander.pid), 'the other worker kept running');
    const seen = new Set<number>();
    await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/pid`, { headers: { connection: 'close' } });
      assert.equal(res.status, 200);
      seen.add(Number(await res.text()));
      return seen.size === 2;
    }, 'requests answered by both workers');
    assert.ok(!seen.has(victim.pid));
  });

  test('all children killed at once: connections made meanwhile are served when children return', async () => {
    const children = childPids(server.proc.pid!);
    assert.equal(children.length, 2);
    for (const pid of children) process.kill(pid, 'SIGKILL');

    // Opened while no child is alive: the kernel queues them in the backlog of
    // the socket the controller holds; none may be refused.
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        exchange({ port: server.port }, requestHead('GET', '/hello', [['Connection', 'close']]), responsesComplete(1), 30_000),
      ),
    );
    for (const { received } of answers) {
      const [res] = parseResponses(received);
      assert.equal(res?.status, 200);
      assert.equal(res?.body.toString(), 'Hello, world!');
    }
    const replaced = childPids(server.proc.pid!);
    assert.equal(replaced.length, 2);
    assert.ok(replaced.every((pid) => !children.includes(pid)));
  });
});

describe('one front, two workers', { timeout: 120_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ args: ['--processes', '2', '--fronts', '1', '--threads', '4', '-l', '/dev/null', 'integration_apps:app'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('one child runs both workers and spreads requests over them', async () => {
    assert.equal(childPids(server.proc.pid!).length, 1);
    assert.equal(workerPids(server.proc.pid!).length, 2);
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`http://127.0.0.1:${server.port}/pid`);
      seen.add(Number(await res.text()));
    }
    assert.equal(seen.size, 2, 'ten requests in a row reached both workers');
  });

  test('a killed worker costs only its in-flight request; the other worker of the same front goes on serving', async () => {
    const [victim, bystander] = workerPids(server.proc.pid!);
    const conn = await Connection.open({ port: server.port });
    // Two slow requests at once go to the two workers (the least loaded takes each).
    const a = fetch(`http://127.0.0.1:${server.port}/slow?seconds=10`);
    const b = fetch(`http://127.0.0.1:${server.port}/slow?seconds=1.5`);
    await new Promise((r) => setTimeout(r, 400));
    process.kill(victim!, 'SIGKILL');
    const answers = (await Promise.all([a, b])).map((r) => r.status).sort();
    assert.deepEqual(answers, [200, 502]);
    // Meanwhile and after, the front keeps answering on an open connection.
    conn.send(requestHead('GET', '/hello'));
    assert.equal((await conn.next({ timeoutMs: 5000 })).status, 200);
    conn.destroy();
    const pids = await waitFor(() => {
      const live = workerPids(server.proc.pid!);
      return live.length === 2 && !live.includes(victim!) ? live : null;
    }, 'a replacement worker');
    assert.ok(pids.includes(bystander!), 'the other worker kept running');
    assert.match(server.stderr(), new RegExp(`Python worker ${victim} exited \\(SIGKILL\\); 1 request\\(s\\) answered 502`));
  });
});
