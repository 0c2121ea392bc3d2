"""Test apps, each wrapped in wsgiref.validate so PEP 3333 violations fail tests."""

import hashlib
import json
import os
import time
from wsgiref.validate import validator


@validator
def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


@validator
def echo(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


@validator
def sha256(environ, start_response):
    h = hashlib.sha256()
    total = 0
    inp = environ["wsgi.input"]
    while True:
        block = inp.read(65536)
        if not block:
            break
        total += len(block)
        h.update(block)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{total} {h.hexdigest()}".encode()]


@validator
def lines(environ, start_response):
    inp = environ["wsgi.input"]
    first = inp.readline()
    rest = inp.readlines()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps([first.decode(), [r.decode() for r in rest]]).encode()]


@validator
def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    size = int(environ["PATH_INFO"].strip("/") or "10485760")
    block = b"x" * 65536

    def gen():
        sent = 0
        while sent < size:
            yield block
            sent += len(block)

    return gen()


@validator
def writer(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"returned"]


def boom(environ, start_response):
    raise RuntimeError("secret internal detail")


def exc_info_app(environ, start_response):
    try:
        raise ValueError("oops")
    except ValueError:
        import sys

        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


class _Closing:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __iter__(self):
        while True:
            yield b"y" * 65536

    def close(self) -> None:
        with open(self.marker, "w") as f:
            f.write("closed")


def endless(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _Closing(environ["HTTP_X_MARKER"])


@validator
def sendfile(environ, start_response):
    path = environ["HTTP_X_FILE"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](open(path, "rb"))


def slow(environ, start_response):
    time.sleep(0.5)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


def hello_list(environ, start_response):
    """Unwrapped (the validator hides the list), so the worker can add Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


class _ClosingBody:
    """The shape of a werkzeug (Flask) response: an iterable with close(), not a list."""

    def __init__(self, parts):
        self._parts = parts

    def __iter__(self):
        return iter(self._parts)

    def close(self):
        pass


def hello_closing(environ, start_response):
    """Unwrapped: the app iterable the worker sees is the werkzeug-shaped one, with its Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return _ClosingBody([b"Hello, world!"])


def more_than_declared(environ, start_response):
    """The first chunk is the whole declared Content-Length, yet more follows: it must all stream."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return _ClosingBody([b"first", b"", b"second"])


def sendfile_raw(environ, start_response):
    """Unwrapped: the validator's iterator would hide the FileWrapper from the worker."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](open(environ["HTTP_X_FILE"], "rb"))


@validator
def environ_dump(environ, start_response):
    keys = [
        "wsgi.version", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
        "wsgi.input_terminated", "wsgi.url_scheme", "REQUEST_METHOD", "PATH_INFO", "HTTP_X_THING",
    ]
    out = {k: environ.get(k) for k in keys}
    errors = environ["wsgi.errors"]
    out["errors_is_stderr"] = getattr(errors, "errors", errors) is __import__("sys").stderr  # unwrap the validator
    out["has_file_wrapper"] = callable(environ["wsgi.file_wrapper"])
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]


@validator
def iterate_lines(environ, start_response):
    lines = [line.decode() for line in environ["wsgi.input"]]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(lines).encode()]


@validator
def read_sizes(environ, start_response):
    """read(n) for small n, readline(size), then a read(n) past the end (the validator forbids read())."""
    inp = environ["wsgi.input"]
    parts = [inp.read(3), inp.readline(2), inp.readline(), inp.read(1000)]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps([p.decode() for p in parts]).encode()]


def no_content(environ, start_response):
    status = environ["PATH_INFO"].strip("/") or "204 No Content"
    start_response(status.replace("_", " "), [("Content-Type", "text/plain")])
    return [b""]


def exc_info_after_headers(environ, start_response):
    """Headers already sent: start_response(exc_info=...) re-raises, the worker sends FAIL."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"partial")
    try:
        raise KeyError("late")
    except KeyError:
        import sys

        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"never"]


def fail_after_start(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"first"
        raise RuntimeError("broke mid-stream")

    return gen()


def bad_status(environ, start_response):
    start_response(200, [("Content-Type", "text/plain")])
    return [b"x"]


def header_from_request(environ, start_response):
    """Answers with the header the request names (X-Name, X-Value), unvalidated: the tests send invalid ones."""
    start_response("200 OK", [("Content-Type", "text/plain"), (environ["HTTP_X_NAME"], environ["HTTP_X_VALUE"])])
    return [b"ok"]


def bytes_wrapper(environ, start_response):
    """A file_wrapper over a BytesIO has no file descriptor: the worker must iterate it."""
    import io

    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"z" * 100000), 8192)


def sendfile_range(environ, start_response):
    """Serves bytes 1000..1999 of a file: offset from tell(), length from Content-Length."""
    f = open(environ["HTTP_X_FILE"], "rb")
    f.seek(1000)
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "1000")])
    return environ["wsgi.file_wrapper"](f)


def read_after_abort(environ, start_response):
    """Blocks in read(); the test aborts; the OSError's text goes to a marker file."""
    try:
        environ["wsgi.input"].read()
        outcome = "read returned"
    except OSError as exc:
        outcome = f"OSError: {exc}"
    with open(environ["HTTP_X_MARKER"], "w") as f:
        f.write(outcome)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unused"]


def stuck(environ, start_response):
    time.sleep(60)
    start_response("200 OK", [])
    return [b""]


def sleep_then_hello(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "0.3"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept"]


def prints(environ, start_response):
    print("app output on stdout")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def thread_name(environ, start_response):
    """Sleeps QUERY_STRING seconds (none: answers at once; "spin:S" keeps the CPU and the GIL busy
    for S seconds instead), then names the thread it ran on: "name ident"."""
    import threading

    query = environ.get("QUERY_STRING")
    if query and query.startswith("spin:"):
        end = time.monotonic() + float(query[5:])
        while time.monotonic() < end:
            pass
    elif query:
        time.sleep(float(query))
    start_response("200 OK", [("Content-Type", "text/plain")])
    thread = threading.current_thread()
    return [f"{thread.name} {thread.ident}".encode()]


def sendfile_then_replace(environ, start_response):
    """Opens the file, then deletes it and writes another in its place before returning the wrapper."""
    path = environ["HTTP_X_FILE"]
    f = open(path, "rb")
    os.unlink(path)
    with open(path, "wb") as other:
        other.write(b"replaced")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f)


def early_hints(environ, start_response):
    environ["wsgi.early_hints"]([("Link", "</style.css>; rel=preload; as=style"), ("Link", "</app.js>; rel=preload; as=script")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hinted"]


def early_hints_bad(environ, start_response):
    try:
        environ["wsgi.early_hints"]([("Bad Name", "x")])
        outcome = b"accepted"
    except ValueError:
        outcome = b"ValueError"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [outcome]
