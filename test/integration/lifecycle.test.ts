/**
 * Zero-downtime lifecycle against real processes: graceful reload under load,
 * a failed reload that keeps the old code serving, --reload=dev with a lazily
 * imported module, --max-memory and --max-age evictions. Every scenario runs
 * under sustained keep-alive load and must lose no request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freshGet } from '../helpers/http.js';
import { startLoad, stopAllLoads, type Load, type LoadReport } from '../helpers/load.js';
import { childPids, treeRssBytes, workerPids } from '../helpers/processes.js';
import { killAllServers, startServer } from '../helpers/server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function appDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spawning-lifecycle-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const versionApp = (version: string): string => `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"${version}"]
`;

/** Answers a load must have had for "no failed request" to mean something. */
const ENOUGH_ANSWERS = 100;

function assertNoFailures(report: LoadReport): void {
  assert.equal(report.failed, 0, `failed requests: ${JSON.stringify([...report.reasons])} of ${report.sent}`);
  assert.ok(report.ok > ENOUGH_ANSWERS, `only ${report.ok} requests answered`);
}

/** Stops a load once it has answered enough requests, which on a loaded machine takes longer than the scenario. */
async function stopLoad(load: Load): Promise<LoadReport> {
  await until(() => load.report.ok > ENOUGH_ANSWERS, 20_000).catch(() => {});
  return load.stop();
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('lifecycle', { concurrency: 2, timeout: 180_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    await stopAllLoads();
    killAllServers();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('SIGHUP reloads under load with no failed request, and new code serves after', async () => {
    const dir = appDir({ 'versioned.py': versionApp('v1') });
    dirs.push(dir);
    const server = await startServer({ cwd: dir, args: ['--processes', '2', '-l', '/dev/null', 'versioned.app'] });
    const load = startLoad(server.port, '/', 16, (b) => /^v\d$/.test(b));
    await sleep(300);
    for (let generation = 2; generation <= 4; generation++) {
      writeFileSync(path.join(dir, 'versioned.py'), versionApp(`v${generation}`));
      server.proc.kill('SIGHUP');
      await server.waitForStderr(new RegExp(`reloaded: generation ${generation} is serving`));
      await sleep(300);
    }
    const report = await stopLoad(load);
    assertNoFailures(report);
    assert.ok((report.bodies.get('v1') ?? 0) > 0 && (report.bodies.get('v4') ?? 0) > 0, JSON.stringify([...report.bodies]));
    const after = await freshGet(`${server.url}/`);
    assert.equal(after, 'v4');
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0);
  });

  test('a reload of broken code keeps the old code serving; the fixed code then reloads', async () => {
    const dir = appDir({ 'versioned.py': versionApp('old') });
    dirs.push(dir);
    const server = await startServer({ cwd: dir, args: ['--processes', '2', '-l', '/dev/null', 'versioned.app'] });
    const load = startLoad(server.port, '/', 8);
    writeFileSync(path.join(dir, 'versioned.py'), 'def app(environ, start_response)\n    return []\n');
    server.proc.kill('SIGHUP');
    const failure = await server.waitForStderr(/reload failed: .*\n/);
    assert.match(failure, /generation 2 cannot load the app: SyntaxError.*versioned\.py:1.*the old code keeps serving/);
    await sleep(500);
    assert.equal(await freshGet(`${server.url}/`), 'old');
    writeFileSync(path.join(dir, 'versioned.py'), versionApp('fixed'));
    server.proc.kill('SIGHUP');
    await server.waitForStderr(/reloaded: generation 2 is serving/);
    await sleep(200);
    const report = await stopLoad(load);
    assertNoFailures(report);
    assert.equal(await freshGet(`${server.url}/`), 'fixed');
    assert.deepEqual([...report.bodies.keys()].sort(), ['fixed', 'old']);
    await server.stop('SIGTERM');
  });

  test('--reload=dev reloads when a module imported lazily after start changes', async () => {
    const dir = appDir({
      'lazyapp.py': 'def app(environ, start_response):\n    import lazymod\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [lazymod.VALUE.encode()]\n',
      'lazymod.py': 'VALUE = "before"\n',
    });
    dirs.push(dir);
    const server = await startServer({ cwd: dir, args: ['--processes', '2', '--reload=dev', '-l', '/dev/null', 'lazyapp.app'] });
    // Each worker imports lazymod on its first request and reports it up to a second later; the edit
    // lands before that report, so only the identity the import read can tell it from the starting state.
    for (let i = 0; i < 8; i++) assert.equal(await freshGet(`${server.url}/`), 'before');
    const load = startLoad(server.port, '/', 8);
    // Editor-style save: write a temp file and rename it over the module.
    writeFileSync(path.join(dir, 'lazymod.py.tmp'), 'VALUE = "after"\n');
    const { renameSync } = await import('node:fs');
    renameSync(path.join(dir, 'lazymod.py.tmp'), path.join(dir, 'lazymod.py'));
    await server.waitForStderr(/lazymod\.py changed; reloading/);
    await server.waitForStderr(/reloaded: generation 2 is serving/);
    await sleep(200);
    assert.equal(await freshGet(`${server.url}/`), 'after');
    assert.doesNotMatch(server.stderr(), /generation 3/, 'one save, one reload');
    // A second edit, after the first reload finished, reloads again.
    await sleep(1500);
    writeFileSync(path.join(dir, 'lazymod.py'), 'VALUE = "again"\n');
    await server.waitForStderr(/reloaded: generation 3 is serving/);
    await sleep(200);
    const report = await stopLoad(load);
    assertNoFailures(report);
    assert.equal(await freshGet(`${server.url}/`), 'again');
    await server.stop('SIGTERM');
  });

  test('--max-memory holds a leaking app in check, replacing workers one at a time while their front serves, with no failed request', async () => {
    const limit = 400 * 1024 * 1024;
    const server = await startServer({ args: ['--processes', '2', '--fronts', '1', '--threads', '4', '--max-memory', '400M', '-l', '/dev/null', 'lifecycle_apps:leak'] });
    const front = childPids(server.proc.pid!);
    const load = startLoad(server.port, '/', 8);
    let peak = 0;
    // At least 10 s, and on a slow machine until the app has tried to leak well past twice the limit (at most 30 s).
    const start = Date.now();
    const leakedEnough = (): boolean => load.report.ok * 512 * 1024 > 2.5 * limit;
    while (Date.now() - start < 10_000 || (!leakedEnough() && Date.now() - start < 30_000)) {
      peak = Math.max(peak, treeRssBytes(server.proc.pid!));
      await sleep(100);
    }
    const report = await stopLoad(load);
    assertNoFailures(report);
    const replaced = server.stderr().match(/replaced worker \d+ of child #1 by \d+ \(memory limit\)/g) ?? [];
    assert.ok(replaced.length >= 2, `only ${replaced.length} replacements:\n${server.stderr()}`);
    assert.match(server.stderr(), /total RSS \d+M is over --max-memory 400M; worker \d+ is the largest \(\d+M\); replacing it/);
    assert.deepEqual(childPids(server.proc.pid!), front, 'the front itself is never replaced: only its leaking workers');
    // Without the limit the app would grow by 512 KiB × every request answered.
    const unchecked = report.ok * 512 * 1024;
    assert.ok(unchecked > 2 * limit, `the test leaked too little (${unchecked} bytes) to prove anything`);
    // Sampling every 500 ms and a replacement's start-up let it overshoot a little, never run away.
    assert.ok(peak < limit + 400 * 1024 * 1024, `peak RSS ${Math.round(peak / 1048576)}M`);
    console.log(`max-memory: peak ${Math.round(peak / 1048576)}M, unchecked growth ${Math.round(unchecked / 1048576)}M, ${replaced.length} replacements`);
    await server.stop('SIGTERM');
  });

  test('reloads asked for during a reload coalesce into one more', async () => {
    const server = await startServer({ args: ['--processes', '2', '-l', '/dev/null', 'lifecycle_apps:pid'] });
    const load = startLoad(server.port, '/', 8);
    server.proc.kill('SIGHUP');
    await server.waitForStderr(/reloading: starting generation 2/);
    // Several more while generation 2 starts (spaced: the kernel merges a signal still pending).
    for (let i = 0; i < 3; i++) {
      server.proc.kill('SIGHUP');
      await sleep(20);
    }
    await server.waitForStderr(/reloaded: generation 3 is serving/);
    await sleep(1500);
    assert.doesNotMatch(server.stderr(), /generation 4/);
    assertNoFailures(await stopLoad(load));
    await server.stop('SIGTERM');
  });

  test('TTIN adds a child and TTOU drains one, without a failed request', async () => {
    const server = await startServer({ args: ['--processes', '2', '--fronts', '2', '-l', '/dev/null', 'lifecycle_apps:pid'] });
    const pgid = server.proc.pid!;
    const load = startLoad(server.port, '/', 8);
    assert.equal(workerPids(pgid).length, 2);
    server.proc.kill('SIGTTIN');
    await server.waitForStderr(/now 3 children \(was 2\)/);
    await until(() => workerPids(pgid).length === 3);
    server.proc.kill('SIGTTOU');
    await server.waitForStderr(/now 2 children \(was 3\)/);
    server.proc.kill('SIGTTOU'); // one at a time: the kernel merges a signal still pending
    await server.waitForStderr(/now 1 children \(was 2\)/);
    await until(() => workerPids(pgid).length === 1);
    await sleep(300);
    assertNoFailures(await stopLoad(load));
    await server.stop('SIGTERM');
  });

  test('SIGUSR1 reopens the access log after it was rotated away', async () => {
    const dir = appDir({});
    dirs.push(dir);
    const log = path.join(dir, 'access.log');
    const server = await startServer({ args: ['--processes', '1', '-l', log, 'lifecycle_apps:pid'] });
    await freshGet(`${server.url}/before`);
    await until(() => readFileSync(log, 'utf8').includes('/before'));
    const { renameSync } = await import('node:fs');
    renameSync(log, log + '.1');
    server.proc.kill('SIGUSR1');
    await sleep(300);
    await freshGet(`${server.url}/after`);
    await until(() => {
      try {
        return readFileSync(log, 'utf8').includes('/after');
      } catch {
        return false;
      }
    });
    assert.doesNotMatch(readFileSync(log + '.1', 'utf8'), /\/after/);
    await server.stop('SIGTERM');
  });

  test('--max-age recycles workers without a gap', async () => {
    const server = await startServer({ args: ['--processes', '2', '--max-age', '2', '-l', '/dev/null', 'lifecycle_apps:pid'] });
    const load = startLoad(server.port, '/', 8);
    const replaced = (): number => (server.stderr().match(/replaced worker \d+ of child #\d+ by \d+ \(max age\)/g) ?? []).length;
    // Until three replacements happened and four workers answered, however slowly this machine starts
    // children: each replacement waits for its successor to import the app.
    await until(() => replaced() >= 3 && load.report.bodies.size >= 4, 40_000).catch(() => {});
    const report = await stopLoad(load);
    assertNoFailures(report);
    assert.ok(replaced() >= 3, `only ${replaced()} age replacements:\n${server.stderr()}`);
    // Answers came from more than the two original workers.
    assert.ok(report.bodies.size >= 4, `only ${report.bodies.size} worker pids answered`);
    await server.stop('SIGTERM');
  });
});
