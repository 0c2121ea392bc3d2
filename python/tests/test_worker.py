"""The worker end to end: a real `python -m spawning.worker` over a real socketpair."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spawning.tags import INITIAL_WINDOW

APPS = "basic"


def test_ready_then_hello_with_content_length(worker_factory):
    w = worker_factory(f"{APPS}.hello_list")
    info = w.ready()
    assert info["threads"] == 4 and info["app"] == "basic.hello_list" and info["pid"] == w.proc.pid
    w.request(1)
    status, headers, body = w.response(1)
    assert (status, body) == ("200 OK", b"Hello, world!")
    assert headers["Content-Length"] == "13"


@pytest.mark.parametrize("name", ["basic:hello", "basic.hello"])
def test_colon_and_dot_names(worker_factory, name):
    w = worker_factory(name)
    w.ready()
    w.request(7)
    assert w.response(7)[2] == b"Hello, world!"


def test_middleware_last_listed_is_outermost(worker_factory):
    w = worker_factory(["basic.hello", "middleware.inner", "middleware.outer"])
    w.ready()
    w.request(1)
    assert w.response(1)[2] == b"outer(inner(Hello, world!))"


def test_write_callable_and_streaming(worker_factory):
    w = worker_factory(f"{APPS}.writer")
    w.ready()
    w.request(1)
    status, headers, body = w.response(1)
    assert body == b"written returned" and "Content-Length" not in headers


def test_readline_readlines(worker_factory):
    w = worker_factory(f"{APPS}.lines", threads=1)
    w.ready()
    w.request(1, method="POST", body=b"one\ntwo\nthree")
    assert json.loads(w.response(1)[2]) == ["one\n", ["two\n", "three"]]


@pytest.mark.parametrize("threads", [1, 4])
def test_large_upload_under_the_window(worker_factory, threads):
    """The test sends only while the worker's granted window is positive: the
    worker must grant as the app reads, or this deadlocks (and times out)."""
    w = worker_factory(f"{APPS}.sha256", threads=threads)
    w.ready()
    total = 20 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB
    w.send([1, 1, w.environ(method="POST", CONTENT_LENGTH=str(total)), True])
    credit = INITIAL_WINDOW
    sent = 0
    granted = 0
    expected = hashlib.sha256()
    while sent < total:
        while credit <= 0:
            msg = w.recv()
            assert msg is not None and msg[0] == 24, msg
            credit += msg[2]
            granted += msg[2]
        w.send([2, 1, block])
        expected.update(block)
        sent += len(block)
        credit -= len(block)
    w.send([3, 1])
    assert w.response(1)[2].decode() == f"{total} {expected.hexdigest()}"
    assert granted >= total - INITIAL_WINDOW - len(block)


def test_response_flow_control_stops_at_the_window(worker_factory):
    w = worker_factory(f"{APPS}.stream")
    w.ready()
    w.request(1, path="/10485760")
    w.sock.settimeout(0.5)
    received = 0
    with pytest.raises(socket.timeout):
        while True:
            msg = w.recv()
            if msg[0] == 19:
                received += len(msg[2])
    assert 0 < received <= INITIAL_WINDOW + 65536, received
    w.sock.settimeout(10)
    w.send([5, 1, received])
    w._buf = b""
    rest = w.response(1)[2]
    assert received + len(rest) == 10485760


def test_abort_calls_close_and_still_ends(worker_factory, tmp_path):
    w = worker_factory(f"{APPS}.endless")
    w.ready()
    marker = tmp_path / "closed"
    w.request(1, headers={"HTTP_X_MARKER": str(marker)})
    first = w.recv()
    assert first[0] == 18
    w.send([4, 1])
    while True:
        msg = w.recv()
        if msg[0] == 20:
            break
        assert msg[0] == 19
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.read_text() == "closed"


def test_exception_gives_500_without_traceback(worker_factory):
    w = worker_factory(f"{APPS}.boom")
    w.ready()
    w.request(1)
    status, headers, body = w.response(1)
    assert status == "500 Internal Server Error"
    assert b"secret" not in body and b"Traceback" not in body
    w.close()
    err = w.stderr()
    assert "Traceback" in err and "secret internal detail" in err


def test_exc_info_replaces_unsent_headers(worker_factory):
    w = worker_factory(f"{APPS}.exc_info_app")
    w.ready()
    w.request(1)
    status, _, body = w.response(1)
    assert status.startswith("503") and body == b"replaced"


def test_file_wrapper_is_sent_by_path(worker_factory, tmp_path):
    data = bytes(range(256)) * 4096
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    w = worker_factory(f"{APPS}.sendfile_raw")
    w.ready()
    w.request(1, headers={"HTTP_X_FILE": str(f)})
    start = w.recv()
    assert start[0] == 18 and dict(zip(start[3][::2], start[3][1::2]))["Content-Length"] == str(len(data))
    frame = w.recv()
    assert frame[0] == 22 and frame[2] == str(f) and frame[3] == 0 and frame[4] == len(data)
    assert w.recv()[0] == 20


def test_thread_pool_runs_requests_concurrently(worker_factory):
    w = worker_factory(f"{APPS}.slow", threads=4)
    w.ready()
    t0 = time.monotonic()
    for i in range(4):
        w.request(i + 1)
    for i in range(4):
        w.response(i + 1)
    assert time.monotonic() - t0 < 1.2


def test_inline_mode_gets_a_body_that_arrives_after_the_request(worker_factory):
    w = worker_factory(f"{APPS}.echo", threads=1)
    w.ready()
    w.send([1, 1, w.environ(method="POST", CONTENT_LENGTH="10"), True])
    time.sleep(0.2)
    w.send([2, 1, b"hello"])
    time.sleep(0.1)
    w.send([2, 1, b"world"], [3, 1])
    assert w.response(1)[2] == b"helloworld"


def test_shutdown_exits_zero(worker_factory):
    w = worker_factory(f"{APPS}.hello")
    w.ready()
    w.send([6])
    assert w.proc.wait(5) == 0


@pytest.mark.parametrize(
    "app,kind,message,where",
    [
        ("nowhere.app", "module-not-found", "No module named 'nowhere'", ""),
        ("basic.missing", "attribute-missing", "'basic' has no attribute 'missing'", "basic.py"),
        ("broken_syntax.app", "syntax-error", "SyntaxError", "broken_syntax.py:1"),
        ("raises_on_import.app", "import-raised", "ValueError: boom at import", "raises_on_import.py:1"),
        ("bad_import_inside.app", "import-error", "module_that_does_not_exist", "bad_import_inside.py:1"),
        ("middleware.not_callable", "not-callable", "not a WSGI callable", ""),
    ],
)
def test_load_errors(worker_factory, app, kind, message, where):
    w = worker_factory(app)
    msg = w.recv()
    assert msg[0] == 17, msg
    err = msg[1]
    assert err["kind"] == kind
    assert message in err["message"] and "\n" not in err["message"]
    assert where in err["where"]
    assert w.proc.wait(5) == 3


def test_missing_msgpack_is_reported_without_msgpack(tmp_path, worker_factory):
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    w = worker_factory(f"{APPS}.hello", python=str(venv / "bin" / "python"))
    msg = w.recv()
    assert msg[0] == 17 and msg[1]["kind"] == "python-packages"
    assert "msgpack" in msg[1]["message"] and str(venv) in msg[1]["message"]
    assert w.proc.wait(5) == 4


def test_codec_matches_shared_vectors():
    from spawning.channel import FrameReader, encode_frame

    vectors = json.loads((Path(__file__).resolve().parents[2] / "protocol" / "vectors.json").read_text())["vectors"]

    def decode(v):
        if isinstance(v, dict) and set(v) == {"$bin"}:
            return bytes.fromhex(v["$bin"])
        if isinstance(v, list):
            return [decode(i) for i in v]
        if isinstance(v, dict):
            return {k: decode(i) for k, i in v.items()}
        return v

    reader = FrameReader()
    for vec in vectors:
        value = decode(vec["value"])
        assert encode_frame(value).hex() == vec["frame"], vec["name"]
        frame = bytes.fromhex(vec["frame"])
        assert reader.feed(frame[:3]) == []
        assert reader.feed(frame[3:]) == [value]
