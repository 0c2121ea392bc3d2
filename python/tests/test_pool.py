"""--threads N >= 2: fast requests run on the reader thread; a slow one never holds up the channel."""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from spawning.tags import INITIAL_WINDOW


def _threads(w: Any, first: int, count: int, seconds: str = "") -> list[str]:
    """Runs requests one at a time (each its own batch); the "name ident" of the thread that ran each."""
    ran = []
    for rid in range(first, first + count):
        w.request(rid, headers={"QUERY_STRING": seconds} if seconds else None)
        ran.append(w.response(rid)[2].decode())
    return ran


def _on_reader(thread_of: Callable[[int], str], first: int, streak: int = 1, limit: int = 5000) -> tuple[str, int]:
    """Fast requests one at a time until ``streak`` in a row ran on the reader thread; its name and the next id.

    A slow or preempted batch sends the next 32 or more requests to the pool (doubling each time),
    so on a busy machine no fixed count of requests is sure to bring the reader back."""
    run = 0
    for rid in range(first, first + limit):
        name = thread_of(rid)
        run = run + 1 if name.startswith("spawning-reader ") else 0
        if run == streak:
            return name, rid + 1
    raise AssertionError(f"{limit} fast requests, and never {streak} in a row on the reader")


def _name_in_body(w: Any) -> Callable[[int], str]:
    return lambda rid: _threads(w, rid, 1)[0]


def _retried(experiment: Callable[[int], bool], tries: int = 5) -> None:
    """Runs ``experiment(first_id)`` until it finds its precondition (the reader ran the request it
    needed there) and passes; it returns False when the precondition did not hold."""
    for attempt in range(tries):
        if experiment(attempt * 10_000 + 1):
            return
    raise AssertionError(f"the reader never ran the request under test in {tries} tries")


def test_fast_requests_run_on_the_reader_thread(worker_factory):
    w = worker_factory("basic.thread_name", threads=4)
    w.ready()
    # Even if the first runs were slow (imports, a busy machine), the reader soon runs them all.
    _on_reader(_name_in_body(w), 1, streak=50)


@pytest.mark.parametrize("slow", ["1.0", "spin:1.0"])
def test_a_slow_request_on_the_reader_does_not_hold_up_the_others(worker_factory, slow):
    w = worker_factory("basic.thread_name", threads=4)
    w.ready()

    def experiment(first: int) -> bool:
        reader, rid = _on_reader(_name_in_body(w), first)
        w.request(rid, headers={"QUERY_STRING": slow})
        time.sleep(0.1)
        t0 = time.monotonic()
        w.send(*[[1, i, w.environ(), False] for i in range(rid + 1, rid + 4)])
        ran = [w.response(i)[2].decode() for i in range(rid + 1, rid + 4)]
        elapsed = time.monotonic() - t0
        if w.response(rid)[2].decode().split()[1] != reader.split()[1]:
            return False  # the pool ran the slow one: nothing was on the reader to hold up
        assert elapsed < 0.5
        # Another thread read them (and handed them to the pool); the slow one ended on the old reader's thread.
        assert reader not in ran, ran
        return True

    _retried(experiment)


def test_the_reader_token_passes_from_thread_to_thread(worker_factory):
    w = worker_factory("basic.thread_name", threads=2)
    w.ready()
    rid = 1
    readers = set()
    handed = 0
    for _ in range(20):
        reader, rid = _on_reader(_name_in_body(w), rid)
        readers.add(reader)
        # Slow enough for another thread to take the token; the slow request ends where it began.
        slow = _threads(w, rid, 1, "0.05")[0]
        rid += 1
        # (Unless the pool ran it: a batch judged slow just before sends the next ones there.)
        if slow.split()[1] == reader.split()[1]:
            handed += 1
        if handed >= 4 and len(readers) >= 2:
            return
    raise AssertionError(f"the token went to {len(readers)} threads in {handed} hand-overs")


def test_a_response_waiting_for_credit_on_the_reader_does_not_hold_up_the_others(worker_factory):
    w = worker_factory(["basic.stream", "middleware.thread_header"], threads=4)
    w.ready()

    def thread_of(rid: int) -> str:
        w.request(rid, path="/65536")
        return w.response(rid)[1]["X-Thread"]

    def experiment(first: int) -> bool:
        reader, rid = _on_reader(thread_of, first)
        # 1 MB: the app waits for credit after the first window, on the reader's thread.
        w.request(rid, path="/1048576")
        start = w.recv()
        assert start[:2] == [18, rid]
        if dict(zip(start[3][::2], start[3][1::2]))["X-Thread"] != reader:
            # The pool ran it: let it finish, and try again.
            w.send([5, rid, 1 << 20])
            while w.recv()[:2] != [20, rid]:
                pass
            return False
        received = 0
        while received < INITIAL_WINDOW:
            msg = w.recv()
            assert msg[:2] == [19, rid]
            received += len(msg[2])
        t0 = time.monotonic()
        w.request(rid + 1, path="/65536")
        assert w.response(rid + 1)[1]["X-Thread"] != reader
        assert time.monotonic() - t0 < 0.5
        w.send([5, rid, 1 << 20])
        assert received + len(w.response(rid)[2]) == 1 << 20
        return True

    _retried(experiment)
