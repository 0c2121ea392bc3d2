"""The app every server in scripts/bench serves: the same bytes from each.

/        13-byte hello world
/10k     10 KB body
/echo    the request body back (POST)
/sleep   waits 10 ms (``?ms=N`` to change) the way the server's mode waits:
         time.sleep, which gevent and eventlet patch into a cooperative wait
/file10m a 10 MB file through the server's wsgi.file_wrapper (sendfile in
         gunicorn; spawning's front reads the worker's open file itself)
/read10m the same file read and yielded by the app, 1 MB at a time
/hints   hello world after a 103 Early Hints (wsgi.early_hints, where offered)
"""

import os
import tempfile
import time

HELLO = b"Hello, world!"
TEN_K = b"x" * 10240
FILE_SIZE = 10 * 1024 * 1024
FILE_PATH = os.path.join(tempfile.gettempdir(), "spawning-bench-10m.bin")


def _ensure_file():
    """Written once per machine; every worker of every server may race here, so each writes its own and renames."""
    try:
        if os.path.getsize(FILE_PATH) == FILE_SIZE:
            return
    except OSError:
        pass
    tmp = f"{FILE_PATH}.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(os.urandom(FILE_SIZE))
    os.replace(tmp, FILE_PATH)


_ensure_file()


def _send(start_response, body):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _chunks(path):
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return
            yield block


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/10k":
        return _send(start_response, TEN_K)
    if path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return _send(start_response, environ["wsgi.input"].read(length))
    if path == "/file10m":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(FILE_SIZE))])
        return environ["wsgi.file_wrapper"](open(FILE_PATH, "rb"), 1 << 20)
    if path == "/read10m":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(FILE_SIZE))])
        return _chunks(FILE_PATH)
    if path == "/hints":
        hints = environ.get("wsgi.early_hints")
        if hints is not None:
            hints([("Link", "</style.css>; rel=preload; as=style")])
        return _send(start_response, HELLO)
    if path == "/sleep":
        query = environ.get("QUERY_STRING", "")
        ms = int(query[3:]) if query.startswith("ms=") else 10
        time.sleep(ms / 1000)
        return _send(start_response, HELLO)
    return _send(start_response, HELLO)
