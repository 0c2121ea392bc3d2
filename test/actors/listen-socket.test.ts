/**
 * The listening socket against the real kernel: bound once, put into LISTEN
 * without this process ever accepting, connections queued in the backlog
 * while no child exists, then served by a child-like process that inherits
 * the descriptor, as src/runtime/child.ts does.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openListenSocket } from '../../src/actors/listen-socket.js';
import { BindError } from '../../src/errors.js';

const SERVE_ON_FD_3 = `
require('http').createServer((req, res) => res.end('served by ' + process.pid))
  .listen({ fd: 3 }, () => process.stdout.write('up\\n'));`;

const helpers = new Set<ChildProcess>();

/** A stand-in for a child: inherits the socket at fd 3 and serves HTTP on it. */
async function serveOn(fd: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['-e', SERVE_ON_FD_3], { stdio: ['ignore', 'pipe', 'inherit', fd] });
  helpers.add(proc);
  proc.on('exit', () => helpers.delete(proc));
  const [chunk] = (await once(proc.stdout!, 'data')) as [Buffer];
  assert.equal(chunk.toString(), 'up\n');
  return proc;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGKILL');
  await once(proc, 'exit');
}

/** Connects and sends a request; resolves on connect with a promise of the whole response. */
async function connectAndRequest(options: net.NetConnectOpts): Promise<{ response: Promise<string> }> {
  const socket = net.connect(options);
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let data = '';
  socket.setEncoding('utf8').on('data', (d: string) => (data += d));
  return { response: once(socket, 'end').then(() => data) };
}

const settledWithin = <T>(p: Promise<T>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

function expectBindError(message: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof BindError, String(err));
    assert.equal(err.code, 'SPAWNING_ERR_BIND');
    assert.equal(err.exitCode, 2);
    assert.match(err.message, message);
    assert.ok(!err.format().includes('\n'));
    return true;
  };
}

describe('listening socket', { timeout: 30_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-listen-'));
  });
  after(async () => {
    await Promise.all([...helpers].map(stop));
    rmSync(dir, { recursive: true, force: true });
  });

  it('port 0 reports the real port the kernel chose', async () => {
    const socket = await openListenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0, path: null }, 128);
    try {
      assert.ok(socket.port > 0);
      assert.equal(socket.url, `http://127.0.0.1:${socket.port}`);
      assert.equal(socket.unixPath, null);
    } finally {
      await socket.close();
    }
  });

  it('queues connections while no child exists, and a child that inherits the fd serves them', async () => {
    const socket = await openListenSocket({ kind: 'tcp', host: '127.0.0.1', port: 0, path: null }, 128);
    try {
      // No child yet: the connect completes (the kernel queued it), but nobody answers.
      const early = await connectAndRequest({ host: '127.0.0.1', port: socket.port });
      assert.equal(await settledWithin(early.response, 300), false, 'answered although nothing should accept');

      const first = await serveOn(socket.fd);
      assert.match(await early.response, new RegExp(`^HTTP/1.1 200 OK[\\s\\S]*served by ${first.pid}$`));

      // Every child dead: still never refused; the next child serves what queued meanwhile.
      await stop(first);
      const during = await connectAndRequest({ host: '127.0.0.1', port: socket.port });
      const second = await serveOn(socket.fd);
      assert.match(await during.response, new RegExp(`served by ${second.pid}$`));
      await stop(second);
    } finally {
      await socket.close();
    }
    await assert.rejects(connectAndRequest({ host: '127.0.0.1', port: socket.port }), { code: 'ECONNREFUSED' });
  });

  it('refuses a port already in use with one line naming it', async () => {
    const busy = net.createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        openListenSocket({ kind: 'tcp', host: '127.0.0.1', port, path: null }, 128),
        expectBindError(new RegExp(`127\\.0\\.0\\.1:${port}: address already in use`)),
      );
    } finally {
      busy.close();
    }
  });

  it('refuses an unknown host and an address this machine does not have', async () => {
    await assert.rejects(
      openListenSocket({ kind: 'tcp', host: 'no-such-host.invalid', port: 0, path: null }, 128),
      expectBindError(/no-such-host\.invalid: unknown host/),
    );
    await assert.rejects(
      openListenSocket({ kind: 'tcp', host: '192.0.2.1', port: 0, path: null }, 128),
      expectBindError(/192\.0\.2\.1:0: address not available/),
    );
  });

  it('serves a Unix socket, replaces a stale socket file, and removes it on close', async () => {
    const sockPath = path.join(dir, 'stale.sock');
    // A server that died without cleaning up leaves its socket file behind.
    const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sockPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await once(dead, 'exit');
    assert.ok(existsSync(sockPath));

    const socket = await openListenSocket({ kind: 'unix', host: 'localhost', port: 0, path: sockPath }, 128);
    assert.equal(socket.url, `unix:${sockPath}`);
    const queued = await connectAndRequest({ path: sockPath });
    const child = await serveOn(socket.fd);
    assert.match(await queued.response, new RegExp(`served by ${child.pid}$`));
    await stop(child);
    await socket.close();
    assert.equal(existsSync(sockPath), false);
  });

  it('does not take over a Unix socket another server is listening on', async () => {
    const sockPath = path.join(dir, 'live.sock');
    const live = net.createServer().listen(sockPath);
    await once(live, 'listening');
    try {
      await assert.rejects(
        openListenSocket({ kind: 'unix', host: 'localhost', port: 0, path: sockPath }, 128),
        expectBindError(/another server is listening there/),
      );
      assert.ok(existsSync(sockPath));
    } finally {
      live.close();
    }
  });

  it('reports a Unix socket in a missing directory', async () => {
    const sockPath = path.join(dir, 'missing', 'app.sock');
    await assert.rejects(
      openListenSocket({ kind: 'unix', host: 'localhost', port: 0, path: sockPath }, 128),
      expectBindError(/directory does not exist/),
    );
  });
});
