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


def sendfile_raw(environ, start_response):
    """Unwrapped: the validator's iterator would hide the FileWrapper from the worker."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](open(environ["HTTP_X_FILE"], "rb"))
