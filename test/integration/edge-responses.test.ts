/**
 * 103 Early Hints and wsgi.file_wrapper against a real server
 * (test/fixtures/edge_apps.py), with curl and raw sockets.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Connection, connect, requestHead } from '../helpers/http.js';
import { childPids, workerPids } from '../helpers/processes.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** Descriptors of `pid` open on `file`. */
function fdsOn(pid: number, file: string): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(file)) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

describe('103 Early Hints and file responses', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-edge-'));
    server = await startServer({ args: ['--processes', '1', '--threads', '4', 'edge_apps:app'] });
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('curl -v shows the 103 with its Link headers before the 200', async () => {
    const { stderr, stdout } = await run('curl', ['-sv', `http://127.0.0.1:${server.port}/hints`]);
    assert.equal(stdout, 'final');
    const lines = stderr.split('\n').filter((l) => l.startsWith('< '));
    const i103 = lines.findIndex((l) => l.startsWith('< HTTP/1.1 103 Early Hints'));
    const i200 = lines.findIndex((l) => l.startsWith('< HTTP/1.1 200 OK'));
    assert.ok(i103 >= 0 && i200 > i103, stderr);
    const hintLines = lines.slice(i103, i200).filter((l) => /^< link:/i.test(l));
    assert.deepEqual(
      hintLines.map((l) => l.slice(2).trim()),
      ['link: </style.css>; rel=preload; as=style', 'link: </app.js>; rel=preload; as=script'],
    );
  });

  test('the 103 arrives while the app is still working (raw socket)', async () => {
    const marker = path.join(dir, 'seen-103');
    const conn = await Connection.open({ port: server.port });
    try {
      conn.send(requestHead('GET', `/hints?marker=${encodeURIComponent(marker)}`));
      const hint = await conn.next();
      assert.equal(hint.status, 103);
      assert.equal(hint.reason, 'Early Hints');
      assert.match(hint.headers.get('link') ?? '', /<\/style.css>; rel=preload; as=style, <\/app.js>/);
      // The app answers only once told the 103 was seen: the hint did not wait for the response.
      writeFileSync(marker, '');
      const final = await conn.next();
      assert.equal(final.status, 200);
      assert.equal(final.body.toString(), 'final');
      // Keep-alive goes on after an interim response.
      conn.send(requestHead('GET', '/hello'));
      assert.equal((await conn.next()).status, 200);
    } finally {
      conn.destroy();
    }
  });

  test('HTTP/1.0: no 103', async () => {
    const socket = await connect({ port: server.port });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.write('GET /hints HTTP/1.0\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.on('close', resolve));
    const text = Buffer.concat(chunks).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(text, /103/);
  });

  test('a file is sent whole, with its size as Content-Length', async () => {
    const file = path.join(dir, 'eight.bin');
    const content = randomBytes(8 * 1024 * 1024 + 3);
    writeFileSync(file, content);
    const res = await fetch(`http://127.0.0.1:${server.port}/file?path=${encodeURIComponent(file)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(content.length));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(content));
  });

  for (const then of ['delete', 'replace']) {
    test(`the file the app opened is sent even when its path was ${then}d`, async () => {
      const file = path.join(dir, `${then}.bin`);
      const content = randomBytes(600_000);
      writeFileSync(file, content);
      const res = await fetch(`http://127.0.0.1:${server.port}/file?path=${encodeURIComponent(file)}&then=${then}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(content));
    });
  }

  test('a file_wrapper without a descriptor is ordinary output', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/memory`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).length, 300_000);
  });

  test('a client that leaves mid-file leaves no descriptor open in the child or the worker', async () => {
    const file = path.join(dir, 'big.bin');
    writeFileSync(file, Buffer.alloc(64 * 1024 * 1024, 7));
    const child = childPids(server.proc.pid!)[0]!;
    const worker = workerPids(server.proc.pid!)[0]!;
    for (let round = 0; round < 5; round++) {
      const socket = await connect({ port: server.port });
      let received = 0;
      const gotSome = new Promise<void>((resolve) =>
        socket.on('data', (d: Buffer) => {
          received += d.length;
          if (received > 1024 * 1024) resolve();
        }),
      );
      socket.write(requestHead('GET', `/file?path=${encodeURIComponent(file)}`));
      await gotSome;
      // The child is mid-file now: it holds the file open; the worker's duplicate is closed already.
      assert.equal(fdsOn(child, file), 1);
      await waitFor(() => fdsOn(worker, file) === 0, "the worker's duplicate to close");
      socket.destroy();
      await waitFor(() => fdsOn(child, file) === 0, 'the child to close the file after the client left');
    }
    // Still serving.
    const res = await fetch(`http://127.0.0.1:${server.port}/hello`);
    assert.equal(await res.text(), 'Hello, world!');
  });
});
