/**
 * Behind a proxy: --forwarded-allow-ips decides whose X-Forwarded-For, X-Forwarded-Proto and Forwarded
 * headers set REMOTE_ADDR and wsgi.url_scheme, and --script-name mounts the
 * app under a prefix; checked through a real Flask app's own view of its URL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeFlaskApp, request } from '../helpers/projects.js';
import { killAllServers, startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %({x-request-id}i)s %({content-type}o)s %({SCRIPT_NAME}e)s';

describe('proxy headers and --script-name', { concurrency: 2, timeout: 60_000 }, () => {
  let dir: string;
  let trusting: RunningServer;
  let distrusting: RunningServer;
  let accessLog: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-proxy-'));
    makeFlaskApp(dir);
    accessLog = path.join(dir, 'access.log');
    [trusting, distrusting] = await Promise.all([
      startServer({ args: ['--processes', '1', '--script-name', '/shop/', '-l', accessLog, '--access-log-format', LOG_FORMAT, 'flaskapp.app'], cwd: dir }),
      startServer({ args: ['--processes', '1', '--forwarded-allow-ips', '10.0.0.0/8', 'flaskapp.app'], cwd: dir }),
    ]);
  });
  after(async () => {
    await Promise.all([trusting?.stop(), distrusting?.stop()]);
    killAllServers();
    rmSync(dir, { recursive: true, force: true });
  });

  test('from a trusted peer (127.0.0.1 by default) the proxy headers set the client address and scheme', async () => {
    const headers = { Host: 'shop.example', 'X-Forwarded-For': '198.51.100.7', 'X-Forwarded-Proto': 'https', 'X-Request-Id': 'req-1' };
    const res = await request(trusting.port, 'GET', '/shop/items/7?q=a', headers);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { item: 7, q: 'a', root: '/shop', url: 'https://shop.example/shop/items/7?q=a', remote: '198.51.100.7' });
    const rfc = await request(trusting.port, 'GET', '/shop/items/8', { Host: 'shop.example', Forwarded: 'for="[2001:db8::1]:4711";proto=https' });
    assert.equal(JSON.parse(rfc.body).remote, '2001:db8::1');
  });

  test('--access-log-format: the line in gunicorn atoms, with the client the proxy vouched for', async () => {
    await request(trusting.port, 'GET', '/shop/items/9', { 'X-Forwarded-For': '203.0.113.5', 'X-Request-Id': 'req-9' });
    const line = await waitFor(() => readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes('req-9')), 'the access log line');
    assert.match(line, /^203\.0\.113\.5 "GET \/shop\/items\/9 HTTP\/1\.1" 200 \d+ req-9 application\/json \/shop$/);
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
