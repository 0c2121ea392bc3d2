"""Reports how the worker runs the app: green or not, and which library patched the socket module."""

import json
import socket
import threading


def app(environ, start_response):
    body = json.dumps(
        {
            "multithread": environ["wsgi.multithread"],
            "socket": socket.socket.__module__,
            "lock": type(threading.Lock()).__module__,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
