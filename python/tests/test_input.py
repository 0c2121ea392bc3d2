"""wsgi.input: streaming under the body window, line reading, inline pumping, ABORT."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from spawning.tags import INITIAL_WINDOW


def test_readline_readlines(worker_factory):
    w = worker_factory("basic.lines", threads=1)
    w.ready()
    w.request(1, method="POST", body=b"one\ntwo\nthree")
    assert json.loads(w.response(1)[2]) == ["one\n", ["two\n", "three"]]


def test_iteration_over_lines_arriving_in_pieces(worker_factory):
    w = worker_factory("basic.iterate_lines")
    w.ready()
    w.send([1, 1, w.environ(method="POST"), True], [2, 1, b"al"], [2, 1, b"pha\nbe"])
    time.sleep(0.05)
    w.send([2, 1, b"ta\n\ngam"], [2, 1, b"ma"], [3, 1])
    assert json.loads(w.response(1)[2]) == ["alpha\n", "beta\n", "\n", "gamma"]


def test_read_sizes_and_readline_limit(worker_factory):
    w = worker_factory("basic.read_sizes")
    w.ready()
    w.request(1, method="POST", body=b"abcdefgh\nrest of it")
    assert json.loads(w.response(1)[2]) == ["abc", "de", "fgh\n", "rest of it"]


@pytest.mark.parametrize("threads", [1, 4])
def test_large_upload_under_the_window(worker_factory, threads):
    """The test sends only while the worker's granted window is positive: the
    worker must grant as the app reads, or this deadlocks (and times out)."""
    w = worker_factory("basic.sha256", threads=threads)
    w.ready()
    total = 20 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB
    w.send([1, 1, w.environ(method="POST", CONTENT_LENGTH=str(total)), True])
    credit = INITIAL_WINDOW
    sent = granted = grants = 0
    expected = hashlib.sha256()
    while sent < total:
        while credit <= 0:
            msg = w.recv()
            assert msg is not None and msg[:2] == [24, 1], msg
            credit += msg[2]
            granted += msg[2]
            grants += 1
            # Never more credit than the bytes already sent: the worker only grants what it consumed.
            assert granted <= sent
        w.send([2, 1, block])
        expected.update(block)
        sent += len(block)
        credit -= len(block)
    w.send([3, 1])
    assert w.response(1)[2].decode() == f"{total} {expected.hexdigest()}"
    assert granted >= total - INITIAL_WINDOW - len(block)
    # Batched: about one grant per quarter window, not one per read.
    assert grants <= total // (INITIAL_WINDOW // 4) + 2


def test_inline_mode_pumps_for_a_body_that_arrives_later(worker_factory):
    w = worker_factory("basic.echo", threads=1)
    w.ready()
    w.send([1, 1, w.environ(method="POST", CONTENT_LENGTH="10"), True])
    time.sleep(0.2)
    w.send([2, 1, b"hello"])
    time.sleep(0.1)
    w.send([2, 1, b"world"], [3, 1])
    assert w.response(1)[2] == b"helloworld"


def test_inline_mode_queues_other_requests_while_pumping(worker_factory):
    """Request 2 arrives while request 1 waits for its body: it is queued, not lost."""
    w = worker_factory("basic.echo", threads=1)
    w.ready()
    w.send([1, 1, w.environ(method="POST", CONTENT_LENGTH="3"), True])
    time.sleep(0.1)
    w.send([1, 2, w.environ(method="POST", CONTENT_LENGTH="3"), True], [2, 2, b"two"], [3, 2])
    time.sleep(0.1)
    w.send([2, 1, b"one"], [3, 1])
    assert w.response(1)[2] == b"one"
    assert w.response(2)[2] == b"two"


@pytest.mark.parametrize("threads", [1, 4])
def test_read_after_abort_raises_client_disconnected(worker_factory, tmp_path, threads):
    marker = tmp_path / "outcome"
    w = worker_factory("basic.read_after_abort", threads=threads)
    w.ready()
    w.send([1, 1, w.environ(method="POST", HTTP_X_MARKER=str(marker)), True], [2, 1, b"partial"])
    time.sleep(0.2)
    w.send([4, 1])
    terminal = w.terminal(1)
    assert terminal[0] in (20, 21)
    assert marker.read_text() == "OSError: client disconnected"


class _Owner:
    id = 1
    aborted = False


def _input_of(*pieces: bytes):
    from spawning.flow import Flow
    from spawning.wsgi_input import WsgiInput

    class _NoChannel:
        def send(self, value):
            pass

    body = WsgiInput(_Owner(), Flow(_NoChannel(), None), True)  # type: ignore[arg-type]
    for p in pieces:
        body.feed(p)
    body.end()
    return body


def test_a_read_of_one_whole_piece_is_that_piece_and_reads_across_pieces_join_them():
    piece = b"a" * 70_000
    assert _input_of(piece).read() is piece
    assert _input_of(piece).read(70_000) is piece
    body = _input_of(b"abc", b"defgh", b"ij")
    assert [body.read(2), body.read(4), body.read(1), body.read()] == [b"ab", b"cdef", b"g", b"hij"]
    body = _input_of(b"one\ntw", b"o\n", b"three")
    assert [body.readline(), body.readline(2), body.readline(), body.readline(), body.read()] == [b"one\n", b"tw", b"o\n", b"three", b""]
