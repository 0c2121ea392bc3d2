/**
 * --coverage: coverage.py runs in every worker and /_coverage serves the
 * report combined across them: a line run only by one worker and a line run
 * only by another both show as covered. Without the coverage package the
 * server does not start, with one line naming it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertOneLineError } from '../helpers/cli-errors.js';
import { Connection, requestHead } from '../helpers/http.js';
import { request, venvLinking } from '../helpers/projects.js';
import { killAllServers, runCli, startServer, type RunningServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const APP = `import os


def only_on_first():
    return b"first"


def only_on_second():
    return b"second"


def never_called():
    return b"never"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Worker", str(os.getpid()))])
    if environ["PATH_INFO"] == "/first":
        return [only_on_first()]
    if environ["PATH_INFO"] == "/second":
        return [only_on_second()]
    return [b"pid"]
`;
// Line numbers in APP of each function's body.
const FIRST_BODY = 5;
const SECOND_BODY = 9;
const NEVER_BODY = 13;

interface FileReport {
  executed_lines: number[];
  missing_lines: number[];
}

describe('--coverage', { timeout: 90_000 }, () => {
  let dir: string;
  let server: RunningServer;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-coverage-test-'));
    writeFileSync(path.join(dir, 'covapp.py'), APP);
    server = await startServer({ args: ['--processes', '2', '-l', '/dev/null', '--coverage', 'covapp.app'], cwd: dir });
  });
  after(async () => {
    await server?.stop();
    killAllServers();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Two keep-alive connections held by two different workers. */
  async function connectionsOnTwoWorkers(): Promise<[Connection, Connection]> {
    const byWorker = new Map<string, Connection>();
    for (let i = 0; i < 60 && byWorker.size < 2; i++) {
      const conn = await Connection.open({ port: server.port });
      conn.send(requestHead('GET', '/'));
      const worker = (await conn.next()).headers.get('x-worker')!;
      if (byWorker.has(worker)) conn.destroy();
      else byWorker.set(worker, conn);
    }
    assert.equal(byWorker.size, 2, 'never reached the second worker');
    return [...byWorker.values()] as [Connection, Connection];
  }

  test('the JSON report combines what every worker ran', async () => {
    const [one, two] = await connectionsOnTwoWorkers();
    one.send(requestHead('GET', '/first'));
    two.send(requestHead('GET', '/second'));
    assert.equal((await one.next()).body.toString(), 'first');
    assert.equal((await two.next()).body.toString(), 'second');
    one.destroy();
    two.destroy();
    // Workers save their data every second.
    const file = await waitFor(async () => {
      const res = await request(server.port, 'GET', '/_coverage?format=json');
      if (res.status !== 200) return null;
      const report = JSON.parse(res.body) as { files: Record<string, FileReport> };
      const f = report.files['covapp.py'];
      return f && f.executed_lines.includes(FIRST_BODY) && f.executed_lines.includes(SECOND_BODY) ? f : null;
    }, 'both workers’ lines in the report', 15_000, 300);
    assert.deepEqual(file.missing_lines, [NEVER_BODY]);
  });

  test('/_coverage serves the HTML report and its files; spawning itself is not measured', async () => {
    const redirect = await request(server.port, 'GET', '/_coverage');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, '/_coverage/');
    const index = await request(server.port, 'GET', '/_coverage/');
    assert.equal(index.status, 200, index.body);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    const page = /href="(covapp_py\.html)"/.exec(index.body)?.[1];
    assert.ok(page, `no link to covapp.py's page in:\n${index.body.slice(0, 2000)}`);
    assert.doesNotMatch(index.body, /spawning[/_]worker/);
    const filePage = await request(server.port, 'GET', `/_coverage/${page}`);
    assert.equal(filePage.status, 200);
    assert.match(filePage.body, /only_on_first/);
    assert.equal((await request(server.port, 'GET', '/_coverage/..%2F..%2Fetc%2Fpasswd')).status, 404);
    assert.equal((await request(server.port, 'POST', '/_coverage/')).status, 405);
    // Everything else still reaches the app.
    assert.equal((await request(server.port, 'GET', '/_coveragex')).body, 'pid');
  });

  test('the data directory is the controller’s, and is removed when spawning stops', async () => {
    const line = await server.waitForStderr(/^spawning: coverage data in (\S+); report at \/_coverage$/m);
    const data = line.split(' ')[4]!.replace(/;$/, '');
    assert.ok(readdirSync(data).some((n) => n.startsWith('.coverage.')), `no worker data files in ${data}`);
    const own = await startServer({ args: ['--processes', '1', '-l', '/dev/null', '--coverage', 'covapp.app'], cwd: dir });
    const ownData = (await own.waitForStderr(/^spawning: coverage data in (\S+);/m)).split(' ')[4]!.replace(/;$/, '');
    assert.ok(existsSync(ownData));
    assert.equal((await own.stop()).code, 0);
    assert.equal(existsSync(ownData), false, `${ownData} left behind`);
  });

  test('without the coverage package: one line naming it, before binding', async () => {
    const python = venvLinking(path.join(dir, 'nocov'), ['msgpack']);
    const result = await runCli(['--host', '127.0.0.1', '--port', '0', '--python', python, '--coverage', 'covapp.app'], { cwd: dir });
    assertOneLineError(result, 2, new RegExp(`--coverage needs the 'coverage' package, which ${python} lacks \\(pip install coverage\\) \\[SPAWNING_ERR_PYTHON_ENV\\]`));
    assert.doesNotMatch(result.stderr, /listening on/);
  });
});
