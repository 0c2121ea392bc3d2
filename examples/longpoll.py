"""A long-poll endpoint for `scripts/bench`: answers after `?ms=N` milliseconds.

It waits with time.sleep, which gevent and eventlet make cooperative (spawning
--threads=0, gunicorn -k gevent), just as a real COMET app waits on a socket.
"""

import time
from urllib.parse import parse_qs


def app(environ, start_response):
    ms = float(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
    time.sleep(ms / 1000)
    body = b"done"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
