"""--threads N >= 2: fast requests run on the reader thread; a slow one never holds up the channel."""

from __future__ import annotations

import time
from typing import Any

import pytest

from spawning.tags import INITIAL_WINDOW


def _threads(w: Any, first: int, count: int, seconds: str = "") -> list[str]:
    """Runs requests one at a time (each its own batch); the "name ident" of the thread that ran each."""
    ran = []
    for rid in range(first, first + count):
        w.request(rid, headers={"QUERY_STRING": seconds} if seconds else None)
        ran.append(w.response(rid)[2].decode())
    return ran


def test_fast_requests_run_on_the_reader_thread(worker_factory):
    w = worker_factory("basic.thread_name", threads=4)
    w.ready()
    # Even if the first runs were slow (imports, a busy machine), at most a few dozen go to the pool.
    ran = _threads(w, 1, 200)
    assert all(t.startswith("spawning-reader ") for t in ran[-50:]), ran


@pytest.mark.parametrize("slow", ["1.0", "spin:1.0"])
def test_a_slow_request_on_the_reader_does_not_hold_up_the_others(worker_factory, slow):
    w = worker_factory("basic.thread_name", threads=4)
    w.ready()
    reader = _threads(w, 1, 100)[-1]
    assert reader.startswith("spawning-reader ")
    w.request(1000, headers={"QUERY_STRING": slow})
    time.sleep(0.1)
    t0 = time.monotonic()
    w.send(*[[1, rid, w.environ(), False] for rid in range(1001, 1004)])
    ran = [w.response(rid)[2].decode() for rid in range(1001, 1004)]
    assert time.monotonic() - t0 < 0.5
    # Another thread read them (and handed them to the pool); the slow one ended on the old reader's thread.
    assert reader not in ran, ran
    assert w.response(1000)[2].decode().split()[1] == reader.split()[1]


def test_the_reader_token_passes_from_thread_to_thread(worker_factory):
    w = worker_factory("basic.thread_name", threads=2)
    w.ready()
    rid = 1
    readers = set()
    for _ in range(4):
        ran = _threads(w, rid, 100)
        rid += 100
        assert ran[-1].startswith("spawning-reader "), ran
        readers.add(ran[-1])
        # Slow enough for another thread to take the token; the slow request ends where it began.
        slow = _threads(w, rid, 1, "0.05")
        rid += 1
        assert slow[0].split()[1] == ran[-1].split()[1]
    assert len(readers) >= 2


def test_a_response_waiting_for_credit_on_the_reader_does_not_hold_up_the_others(worker_factory):
    w = worker_factory(["basic.stream", "middleware.thread_header"], threads=4)
    w.ready()
    for rid in range(1, 101):
        w.request(rid, path="/65536")
        status, headers, body = w.response(rid)
    assert headers["X-Thread"].startswith("spawning-reader ")
    reader = headers["X-Thread"]
    # 1 MB: the app waits for credit after the first window, on the reader's thread.
    w.request(1000, path="/1048576")
    start = w.recv()
    assert start[:2] == [18, 1000] and dict(zip(start[3][::2], start[3][1::2]))["X-Thread"] == reader
    received = 0
    while received < INITIAL_WINDOW:
        msg = w.recv()
        assert msg[:2] == [19, 1000]
        received += len(msg[2])
    t0 = time.monotonic()
    w.request(1001, path="/65536")
    assert w.response(1001)[1]["X-Thread"] != reader
    assert time.monotonic() - t0 < 0.5
    w.send([5, 1000, 1 << 20])
    assert received + len(w.response(1000)[2]) == 1 << 20
