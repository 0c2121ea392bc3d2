/**
 * The factory contract against real projects made in a temporary directory:
 * Django (startproject, a view, a template, a CSRF-protected form POST),
 * PasteDeploy (a filter pipeline, global_conf from key=value, [server:main]
 * settings and their command-line overrides, the ini watched under
 * --reload=dev), Flask through the default factory, and a custom factory.
 * Each factory's bad input is one line and an exit code, before binding.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertOneLineError } from '../helpers/cli-errors.js';
import { makeDjangoProject, makeFlaskApp, makePasteProject, request } from '../helpers/projects.js';
import { VENV_PYTHON } from '../helpers/repo.js';
import { killAllServers, runCli, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const DJANGO = '--factory=spawning.django_factory.config_factory';
const PASTE = '--factory=spawning.paste_factory.config_factory';

describe('factories', { concurrency: 3, timeout: 180_000 }, () => {
  let dir: string;
  let djangoDir: string;
  let pasteDir: string;
  let ini: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-factories-'));
    djangoDir = path.join(dir, 'django');
    makeDjangoProject(djangoDir);
    pasteDir = path.join(dir, 'paste');
    ini = makePasteProject(pasteDir);
  });
  after(() => {
    killAllServers();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Django: a view with a template, a CSRF-protected form, and an edited view reloads under --reload=dev', async () => {
    const server = await startServer({ args: ['--processes', '1', '--reload=dev', DJANGO, 'mysite.settings'], cwd: djangoDir });
    try {
      const hello = await request(server.port, 'GET', '/hello/?name=%3Cb%3Ex%3C/b%3E');
      assert.equal(hello.status, 200, hello.body);
      assert.equal(hello.body, '<p>Hello, &lt;b&gt;x&lt;/b&gt;!</p>\n');

      const form = await request(server.port, 'GET', '/form/');
      assert.equal(form.status, 200, form.body);
      const cookie = /csrftoken=([^;]+)/.exec(String(form.headers['set-cookie']))?.[1];
      const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(form.body)?.[1];
      assert.ok(cookie && token, `no CSRF cookie or token: ${JSON.stringify(form.headers)} ${form.body}`);
      const formHeaders = { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `csrftoken=${cookie}` };
      const posted = await request(server.port, 'POST', '/form/', formHeaders, `csrfmiddlewaretoken=${encodeURIComponent(token)}&message=hi+there`);
      assert.equal(posted.status, 200, posted.body);
      assert.equal(posted.body, 'posted hi there');
      const forged = await request(server.port, 'POST', '/form/', formHeaders, 'message=forged');
      assert.equal(forged.status, 403, 'a POST without the CSRF token must be refused');

      const views = path.join(djangoDir, 'mysite', 'views.py');
      writeFileSync(views, readFileSync(views, 'utf8').replace('posted {', 'received {'));
      await server.waitForStderr(/reloaded: generation 2 is serving/, 20_000);
      // The old generation may still accept a connection or two until it has read its drain message.
      await waitFor(async () => {
        const again = await request(server.port, 'POST', '/form/', formHeaders, `csrfmiddlewaretoken=${encodeURIComponent(token)}&message=hi`);
        return again.body === 'received hi';
      }, 'the edited view');
    } finally {
      await server.stop();
    }
  });

  test('Paste: a filter pipeline, key=value into global_conf, [server:main] processes and threads, the ini reloads under --reload=dev', async () => {
    const server = await startServer({ args: ['--reload=dev', PASTE, ini, 'extra=xyz'], cwd: pasteDir });
    try {
      assert.match(server.stderr(), /\(pid \d+, 2 processes × 3 threads, \d+ fronts?\)/);
      const res = await request(server.port, 'GET', '/');
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, 'HELLO WORLD EXTRA=XYZ MULTITHREAD=TRUE');

      writeFileSync(ini, readFileSync(ini, 'utf8').replace('greeting = hello', 'greeting = goodbye'));
      await server.waitForStderr(/reloaded: generation 2 is serving/, 20_000);
      await waitFor(async () => (await request(server.port, 'GET', '/')).body === 'GOODBYE WORLD EXTRA=XYZ MULTITHREAD=TRUE', 'the edited greeting');
    } finally {
      await server.stop();
    }
  });

  test("Paste: [server:main] host and port apply, a flag given on the command line wins over the ini", async () => {
    const own = path.join(dir, 'paste-override');
    const ownIni = makePasteProject(own, 'num_processes = 3\nthreadpool_workers = 1');
    const server = await startServer({ address: [], args: ['--processes', '1', PASTE, ownIni], cwd: own });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(server.port, 0);
      assert.match(server.stderr(), /\(pid \d+, 1 processes × 1 threads, \d+ fronts?\)/);
      assert.equal((await request(server.port, 'GET', '/')).body, 'HELLO WORLD EXTRA=NONE MULTITHREAD=FALSE');
    } finally {
      await server.stop();
    }
  });

  test('Flask through the default factory', async () => {
    const flaskDir = path.join(dir, 'flask');
    makeFlaskApp(flaskDir);
    const server = await startServer({ args: ['--processes', '1', 'flaskapp.app'], cwd: flaskDir });
    try {
      const item = await request(server.port, 'GET', '/items/42?q=x%20y');
      assert.equal(item.status, 200, item.body);
      assert.deepEqual(JSON.parse(item.body), { item: 42, q: 'x y', root: '', url: `http://127.0.0.1:${server.port}/items/42?q=x%20y`, remote: '127.0.0.1' });
      const echo = await request(server.port, 'POST', '/echo', { 'Content-Type': 'application/json' }, '{"a":[1,2]}');
      assert.deepEqual(JSON.parse(echo.body), { a: [1, 2] });
      assert.equal((await request(server.port, 'GET', '/nope')).status, 404);
    } finally {
      await server.stop();
    }
  });

  test("a custom factory: its arguments, its config's num_processes, its app_factory", async () => {
    const own = path.join(dir, 'custom');
    makeFlaskApp(own); // only for the directory
    writeFileSync(
      path.join(own, 'myfactory.py'),
      `def config_factory(args):
    return {"app_factory": "myfactory.app_factory", "num_processes": 1, "greeting": args["args"][0], "threads_seen": args["threadpool_workers"]}


def app_factory(config):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{config['greeting']} {config['threads_seen']}".encode()]
    return app
`,
    );
    const server = await startServer({ args: ['--threads', '2', '--factory', 'myfactory.config_factory', 'howdy'], cwd: own });
    try {
      assert.match(server.stderr(), /\(pid \d+, 1 processes × 2 threads, \d+ fronts?\)/);
      assert.equal((await request(server.port, 'GET', '/')).body, 'howdy 2');
    } finally {
      await server.stop();
    }
  });

  describe('bad input: one line, before binding', { concurrency: 4 }, () => {
    const run = async (args: string[], cwd: string, code: number, mentions: RegExp): Promise<void> => {
      const result = await runCli(['--host', '127.0.0.1', '--port', '0', '--python', VENV_PYTHON, ...args], { cwd });
      assertOneLineError(result, code, mentions);
      assert.doesNotMatch(result.stderr, /listening on/, 'the error must come before the socket is bound');
    };

    test('Paste: a missing ini file', () => run([PASTE, 'missing.ini'], pasteDir, 2, /Paste ini missing\.ini: no such file \[SPAWNING_ERR_CONFIG\]/));
    test('Paste: no ini file at all', () => run([PASTE], pasteDir, 2, /the Paste factory needs an ini file/));
    test('Paste: an ini without the app section', () => {
      writeFileSync(path.join(pasteDir, 'bad.ini'), '[app:other]\nuse = call:pasteapp:make_app\n');
      return run([PASTE, 'bad.ini'], pasteDir, 2, /bad\.ini: No section 'main' \(prefixed by 'app'/);
    });
    test('Paste: a [server:main] value that is not a number', () => {
      writeFileSync(path.join(pasteDir, 'badport.ini'), readFileSync(ini, 'utf8').replace('port = 0', 'port = eighty'));
      return run([PASTE, 'badport.ini'], pasteDir, 2, /\[server:main\] port = 'eighty' is not a whole number/);
    });
    test('Paste: a [server:main] value out of range', () => {
      writeFileSync(path.join(pasteDir, 'zero.ini'), readFileSync(ini, 'utf8').replace('num_processes = 2', 'num_processes = 0'));
      return run([PASTE, 'zero.ini'], pasteDir, 2, /the factory's config sets num_processes = 0: expected a number from 1/);
    });
    test('Paste: a global_conf argument that is not key=value', () => run([PASTE, ini, 'oops'], pasteDir, 2, /Paste factory argument 'oops' is not key=value/));
    test('Django: a wrong settings module', () => run([DJANGO, 'mysite.settingz'], djangoDir, 3, /Django settings module 'mysite\.settingz' not found/));
    test('Django: a settings module in a package that does not exist', () => run([DJANGO, 'nosite.settings'], djangoDir, 3, /No module named 'nosite'/));
    test('Django: no settings module', () => run([DJANGO], djangoDir, 2, /the Django factory takes one argument, the settings module/));
    test('a factory that does not exist', () => run(['--factory', 'nowhere.config_factory', 'x'], pasteDir, 3, /factory 'nowhere\.config_factory': No module named 'nowhere'/));
  });
});
