"""The app every server in scripts/bench serves: the same bytes from each.

/        13-byte hello world
/10k     10 KB body
/echo    the request body back (POST)
/sleep   waits 10 ms (``?ms=N`` to change) the way the server's mode waits:
         time.sleep, which gevent and eventlet patch into a cooperative wait
"""

import time

HELLO = b"Hello, world!"
TEN_K = b"x" * 10240


def _send(start_response, body):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/10k":
        return _send(start_response, TEN_K)
    if path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return _send(start_response, environ["wsgi.input"].read(length))
    if path == "/sleep":
        query = environ.get("QUERY_STRING", "")
        ms = int(query[3:]) if query.startswith("ms=") else 10
        time.sleep(ms / 1000)
        return _send(start_response, HELLO)
    return _send(start_response, HELLO)
