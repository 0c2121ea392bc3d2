/**
 * Behind a proxy: --forwarded-allow-ips decides whose X-Forwarded-For, X-Forwarded-Proto and Forwarded
 * headers set REMOTE_ADDR and wsgi.url_scheme, and --script-name mounts the
 * app under a prefix; checked through a real Flask app's own view of its URL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeFlaskApp, request } from '../helpers/projects.js';
import { killAllServers, startServer, type RunningServer } from '../helpers/server.js';

describe('proxy headers and --script-name', { concurrency: 2, timeout: 60_000 }, () => {
  let dir: string;
  let trusting: RunningServer;
  let distrusting: RunningServer;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-proxy-'));
    makeFlaskApp(dir);
    [trusting, distrusting] = await Promise.all([
      startServer({ args: ['--processes', '1', '--script-name', '/shop/', 'flaskapp.app'], cwd: dir }),
      startServer({ args: ['--processes', '1', '--forwarded-allow-ips', '10.0.0.0/8', 'flaskapp.app'], cwd: dir }),
    ]);
  });
  after(async () => {
    await Promise.all([trusting?.stop(), distrusting?.stop()]);
    killAllServers();
    rmSync(dir, { recursive: true, force: true });
  });

  test('from a trusted peer (127.0.0.1 by default) the proxy headers set the client address and scheme', async () => {
    const headers = { Host: 'shop.example', 'X-Forwarded-For': '198.51.100.7', 'X-Forwarded-Proto': 'https' };
    const res = await request(trusting.port, 'GET', '/shop/items/7?q=a', headers);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { item: 7, q: 'a', root: '/shop', url: 'https://shop.example/shop/items/7?q=a', remote: '198.51.100.7' });
    const rfc = await request(trusting.port, 'GET', '/shop/items/8', { Host: 'shop.example', Forwarded: 'for="[2001:db8::1]:4711";proto=https' });
    assert.equal(JSON.parse(rfc.body).remote, '2001:db8::1');
  });

  test('from a peer not in the list they are ignored', async () => {
    const res = await request(distrusting.port, 'GET', '/items/7', { Host: 'shop.example', 'X-Forwarded-For': '198.51.100.7', 'X-Forwarded-Proto': 'https' });
    assert.deepEqual(JSON.parse(res.body), { item: 7, q: null, root: '', url: 'http://shop.example/items/7', remote: '127.0.0.1' });
  });

  test('--script-name: the mount point is SCRIPT_NAME, the prefix itself is the app root', async () => {
    const root = await request(trusting.port, 'GET', '/shop/', { Host: 'shop.example' });
    assert.deepEqual(JSON.parse(root.body), { root: '/shop', path: '/' });
    // The prefix alone is the app with an empty PATH_INFO, which Flask redirects to the root under the mount.
    const exact = await request(trusting.port, 'GET', '/shop', { Host: 'shop.example' });
    assert.equal(exact.status, 308);
    assert.equal(exact.headers.location, 'http://shop.example/shop/');
    const outside = await request(trusting.port, 'GET', '/shopping/items/1', { Host: 'shop.example' });
    assert.equal(outside.status, 404, 'a path outside the mount point is not the app\'s /items route');
  });
});
