/**
 * Real projects made in a temporary directory, the way their users make them:
 * a Django project from `django-admin startproject` with a view, a template
 * and a CSRF-protected form; a PasteDeploy ini with a filter pipeline; a
 * Flask app.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REPO_ROOT } from './repo.js';

const VENV_BIN = path.join(REPO_ROOT, '.venv', 'bin');

/** `django-admin startproject mysite DIR`, plus views, templates and urls. */
export function makeDjangoProject(dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync(path.join(VENV_BIN, 'django-admin'), ['startproject', 'mysite', dir], { stdio: 'pipe' });
  writeFileSync(
    path.join(dir, 'mysite', 'views.py'),
    `from django.http import HttpResponse
from django.shortcuts import render


def hello(request):
    return render(request, "hello.html", {"name": request.GET.get("name", "world")})


def form(request):
    if request.method == "POST":
        return HttpResponse(f"posted {request.POST['message']}", content_type="text/plain")
    return render(request, "form.html")
`,
  );
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'templates', 'hello.html'), '<p>Hello, {{ name }}!</p>\n');
  writeFileSync(path.join(dir, 'templates', 'form.html'), '<form method="post">{% csrf_token %}<input name="message"></form>\n');
  appendFileSync(
    path.join(dir, 'mysite', 'urls.py'),
    `
from mysite import views
urlpatterns += [path("hello/", views.hello), path("form/", views.form)]
`,
  );
  appendFileSync(
    path.join(dir, 'mysite', 'settings.py'),
    `
TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
`,
  );
}

/** `app.ini`: a pipeline of a filter (upper-cases the body) and an app, with [server:main] settings. */
export function makePasteProject(dir: string, server = 'num_processes = 2\nthreadpool_workers = 3'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'pasteapp.py'),
    `def make_app(global_conf, greeting="?"):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{greeting} extra={global_conf.get('extra')} multithread={environ['wsgi.multithread']}".encode()]
    return app


def shout_filter(global_conf, **local):
    def wrap(app):
        def shouting(environ, start_response):
            return [chunk.upper() for chunk in app(environ, start_response)]
        return shouting
    return wrap
`,
  );
  const ini = path.join(dir, 'app.ini');
  writeFileSync(
    ini,
    `[DEFAULT]
who = world

[server:main]
use = egg:Spawning
host = 127.0.0.1
port = 0
${server}

[pipeline:main]
pipeline = shout app

[filter:shout]
use = call:pasteapp:shout_filter

[app:app]
use = call:pasteapp:make_app
greeting = hello %(who)s
`,
  );
  return ini;
}

export function makeFlaskApp(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'flaskapp.py'),
    `from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(root=request.script_root, path=request.path)


@app.get("/items/<int:item>")
def item(item):
    return jsonify(item=item, q=request.args.get("q"), root=request.script_root, url=request.url, remote=request.remote_addr)


@app.post("/echo")
def echo():
    return jsonify(request.get_json())
`,
  );
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with exactly the given headers (fetch would add Origin and others). */
export function request(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A venv without pip whose site-packages links just `packages` from the
 * repository's .venv: an interpreter that lacks everything else (coverage, say),
 * or one another user can run (the pyenv one under /root is not).
 */
export function venvLinking(dir: string, packages: readonly string[], base = 'python3'): string {
  execFileSync(base, ['-m', 'venv', '--without-pip', dir]);
  const [lib] = readdirSync(path.join(dir, 'lib'));
  const [ours] = readdirSync(path.join(REPO_ROOT, '.venv', 'lib'));
  for (const pkg of packages) symlinkSync(path.join(REPO_ROOT, '.venv', 'lib', ours!, 'site-packages', pkg), path.join(dir, 'lib', lib!, 'site-packages', pkg));
  return path.join(dir, 'bin', 'python');
}
