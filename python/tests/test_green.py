"""Green threads (threads=0): gevent and eventlet, each request in its own greenlet."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

LIBRARIES = ("gevent", "eventlet")


@pytest.mark.parametrize("library", LIBRARIES)
def test_every_request_gets_its_own_greenlet(worker_factory, library):
    w = worker_factory("basic.sleep_then_hello", threads=0, extra_options={"green": library, "max_green": 1000})
    assert w.ready()["threads"] == 0
    n = 300
    t0 = time.monotonic()
    w.send(*[[1, i, w.environ(QUERY_STRING="0.5"), False] for i in range(1, n + 1)])
    for i in range(1, n + 1):
        assert w.response(i)[2] == b"slept"
    # One at a time this would take 150 s; side by side, one sleep plus overhead.
    assert time.monotonic() - t0 < 3.0


@pytest.mark.parametrize("library", LIBRARIES)
def test_patched_before_the_app_and_not_multithreaded(worker_factory, library):
    w = worker_factory("green_report.app", threads=0, extra_options={"green": library})
    w.ready()
    w.request(1)
    report = json.loads(w.response(1)[2])
    assert report["multithread"] is False
    assert report["socket"].startswith(library), report
    assert report["lock"].startswith(library), report


@pytest.mark.parametrize("library", LIBRARIES)
def test_streams_bodies_under_flow_control(worker_factory, library):
    w = worker_factory("basic.sha256", threads=0, extra_options={"green": library})
    w.ready()
    body = os.urandom(3 * 1024 * 1024)  # twelve windows: the reader greenlet must keep granting credit
    w.send([1, 1, w.environ(method="POST", CONTENT_LENGTH=str(len(body))), True])
    sent = 0
    granted = 256 * 1024
    while sent < len(body):
        while sent < granted and sent < len(body):
            w.send([2, 1, body[sent : sent + 65536]])
            sent += 65536
        if sent >= len(body):
            break
        msg = w.recv()
        assert msg[0] == 24, msg
        granted += msg[2]
    w.send([3, 1])
    assert w.response(1)[2] == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()


def test_max_green_bounds_the_greenlets(worker_factory):
    w = worker_factory("basic.sleep_then_hello", threads=0, extra_options={"green": "gevent", "max_green": 2})
    w.ready()
    t0 = time.monotonic()
    w.send(*[[1, i, w.environ(QUERY_STRING="0.3"), False] for i in range(1, 5)])
    for i in range(1, 5):
        assert w.response(i)[2] == b"slept"
    elapsed = time.monotonic() - t0
    # Four requests, two at a time: two rounds.
    assert 0.6 <= elapsed < 2.0, elapsed


def test_a_missing_library_names_the_package(worker_factory):
    # An interpreter without gevent: hide it with a sitecustomize that blocks the import (cheaper than a venv).
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sitecustomize.py").write_text(
            "import sys\n"
            "class _Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'gevent' or name.startswith('gevent.'):\n"
            "            raise ImportError(\"No module named 'gevent'\")\n"
            "sys.meta_path.insert(0, _Block())\n"
        )
        w = worker_factory("basic.hello", threads=0, extra_options={"green": "gevent"}, pythonpath=(tmp,))
        msg = w.recv()
        assert msg[0] == 17, msg
        assert msg[1]["kind"] == "python-packages"
        assert "pip install gevent" in msg[1]["message"]
        assert w.proc.wait(5) == 4
