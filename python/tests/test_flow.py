"""Response flow control and ABORT."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from spawning.tags import INITIAL_WINDOW


def _frames_until_quiet(w: Any) -> list[Any]:
    """Every frame the worker sends until it stays quiet for 0.5 s."""
    frames = []
    w.sock.settimeout(0.5)
    try:
        while True:
            frames.append(w.recv())
    except socket.timeout:
        return frames
    finally:
        w.sock.settimeout(10)


def _chunk_bytes_until_quiet(w: Any) -> int:
    """Bytes of CHUNK frames (19) the worker sends until it stays quiet for 0.5 s."""
    return sum(len(msg[2]) for msg in _frames_until_quiet(w) if msg[0] == 19)


@pytest.mark.parametrize("threads", [1, 4])
def test_response_stops_at_the_window_until_credit(worker_factory, threads):
    w = worker_factory("basic.stream", threads=threads)
    w.ready()
    total = 10 * 1024 * 1024
    w.request(1, path=f"/{total}")
    received = _chunk_bytes_until_quiet(w)
    assert INITIAL_WINDOW <= received <= INITIAL_WINDOW + 65536, received
    # One grant lets exactly that much more through (plus one chunk of overshoot).
    w.send([5, 1, 131072])
    more = _chunk_bytes_until_quiet(w)
    assert 0 < more <= 131072 + 65536
    w.send([5, 1, received + more])
    rest = w.response(1)[2]
    assert received + more + len(rest) == total


@pytest.mark.parametrize("threads", [1, 4])
def test_abort_while_waiting_for_credit_calls_close_and_ends(worker_factory, tmp_path, threads):
    marker = tmp_path / "closed"
    w = worker_factory("basic.endless", threads=threads)
    w.ready()
    w.request(1, headers={"HTTP_X_MARKER": str(marker)})
    assert w.recv()[0] == 18
    time.sleep(0.2)  # the app is now blocked on credit
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
    # The worker is still serving.
    w.request(2, headers={"HTTP_X_MARKER": str(tmp_path / "second")})
    assert w.recv()[:2] == [18, 2]


def test_abort_before_the_request_runs_still_ends(worker_factory):
    w = worker_factory("basic.slow", threads=1)
    w.ready()
    # One write, so the inline worker reads all three before it runs anything.
    w.send([1, 1, w.environ(), False], [1, 2, w.environ(), False], [4, 2])
    assert w.response(1)[0] == "200 OK"
    assert w.recv() == [20, 2]


@pytest.mark.parametrize("threads", [1, 4])
def test_a_body_within_the_initial_window_is_whole_before_the_app_starts(worker_factory, threads):
    # The child sends such a body unasked: a thread started earlier would only wait for it,
    # and a slow upload would hold it. hello answers without reading the body, so it shows when it ran.
    w = worker_factory("basic.hello", threads=threads)
    w.ready()
    environ = w.environ("/", "POST", CONTENT_LENGTH="1000")
    w.send([1, 1, environ, True], [2, 1, b"x" * 500])
    assert _frames_until_quiet(w) == [], "the app ran before its body was whole"
    w.send([2, 1, b"x" * 500], [3, 1])
    assert w.response(1)[0] == "200 OK"
    # ABORT while the body is arriving: answered (END) without running the app.
    w.send([1, 2, environ, True], [2, 2, b"x" * 10], [4, 2])
    assert w.recv() == [20, 2]


@pytest.mark.parametrize("threads", [1, 4])
def test_a_body_over_the_initial_window_or_of_unknown_length_does_not_hold_the_app(worker_factory, threads):
    # The child sends those only as the app reads (credit), so the app must start first.
    w = worker_factory("basic.hello", threads=threads)
    w.ready()
    w.send([1, 1, w.environ("/", "POST", CONTENT_LENGTH=str(INITIAL_WINDOW + 1)), True])
    assert w.response(1)[0] == "200 OK"
    w.send([1, 2, w.environ("/", "POST", HTTP_TRANSFER_ENCODING="chunked"), True])
    assert w.response(2)[0] == "200 OK"
