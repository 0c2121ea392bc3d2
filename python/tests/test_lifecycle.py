"""Threads, shutdown, signals and channel EOF."""

from __future__ import annotations

import signal
import time


def test_thread_pool_runs_requests_concurrently(worker_factory):
    w = worker_factory("basic.slow", threads=4)
    w.ready()
    t0 = time.monotonic()
    w.send(*[[1, i, w.environ(), False] for i in range(1, 5)])
    for i in range(1, 5):
        w.response(i)
    assert time.monotonic() - t0 < 1.2


def test_inline_mode_runs_one_at_a_time(worker_factory):
    w = worker_factory("basic.sleep_then_hello", threads=1)
    info = w.ready()
    assert info["threads"] == 1
    t0 = time.monotonic()
    w.send(*[[1, i, w.environ(QUERY_STRING="0.2"), False] for i in range(1, 4)])
    for i in range(1, 4):
        assert w.response(i)[2] == b"slept"
    assert time.monotonic() - t0 >= 0.6


def test_shutdown_when_idle_exits_zero(worker_factory):
    w = worker_factory("basic.hello")
    w.ready()
    w.send([6])
    assert w.proc.wait(5) == 0


def test_shutdown_finishes_in_flight_requests(worker_factory):
    for threads in (1, 4):
        w = worker_factory("basic.sleep_then_hello", threads=threads)
        w.ready()
        w.send([1, 1, w.environ(QUERY_STRING="0.3"), False], [6])
        assert w.response(1)[2] == b"slept"
        assert w.proc.wait(5) == 0


def test_sigterm_finishes_in_flight_requests_then_exits_zero(worker_factory):
    for threads, green in ((1, None), (4, None), (0, "gevent"), (0, "eventlet")):
        w = worker_factory("basic.sleep_then_hello", threads=threads, extra_options={"green": green} if green else None)
        w.ready()
        w.request(1, headers={"QUERY_STRING": "0.4"})
        time.sleep(0.1)
        w.proc.send_signal(signal.SIGTERM)
        assert w.response(1)[2] == b"slept"
        assert w.proc.wait(5) == 0


def test_sigterm_when_idle_exits_zero(worker_factory):
    for threads in (1, 4):
        w = worker_factory("basic.hello", threads=threads)
        w.ready()
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(5) == 0


def test_sigint_is_ignored(worker_factory):
    w = worker_factory("basic.hello")
    w.ready()
    w.proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    w.request(1)
    assert w.response(1)[2] == b"Hello, world!"


def test_channel_eof_exits_promptly_despite_a_stuck_app(worker_factory):
    w = worker_factory("basic.stuck", threads=4)
    w.ready()
    w.request(1)
    time.sleep(0.1)
    t0 = time.monotonic()
    assert w.close() == 0
    assert time.monotonic() - t0 < 3


def test_channel_eof_aborts_a_request_waiting_for_credit(worker_factory, tmp_path):
    for threads in (1, 4):
        marker = tmp_path / f"closed-{threads}"
        w = worker_factory("basic.endless", threads=threads)
        w.ready()
        w.request(1, headers={"HTTP_X_MARKER": str(marker)})
        assert w.recv()[0] == 18
        t0 = time.monotonic()
        assert w.close() == 0
        assert time.monotonic() - t0 < 3
        assert marker.read_text() == "closed"


def test_bad_green_options_are_config_errors(worker_factory):
    cases = [
        ({"threads": -1}, "--threads=-1 must be 0 (green threads) or more"),
        ({"threads": 0, "green": "tornado"}, "--green=tornado must be one of gevent, eventlet"),
        ({"threads": 0, "max_green": 0}, "--max-green=0 must be 1 or more"),
    ]
    for options, message in cases:
        w = worker_factory("basic.hello", threads=options.pop("threads"), extra_options=options)
        assert w.recv() == [17, {"kind": "config", "message": message, "where": "", "traceback": ""}]
        assert w.proc.wait(5) == 2


def test_a_missing_option_is_a_config_error_naming_it(worker_factory):
    """Python has no defaults of its own: an option the controller failed to send is named, not guessed."""
    for key in ("threads", "processes"):  # read before loading the app, and after
        w = worker_factory("basic.hello", omit_options=(key,))
        message = f"invalid --options-json: no option '{key}' (the controller sends every option)"
        assert w.recv() == [17, {"kind": "config", "message": message, "where": "", "traceback": ""}]
        assert w.proc.wait(5) == 2


def test_ids_are_reused_as_soon_as_the_terminal_frame_arrives(worker_factory):
    """The child frees an id on the terminal frame and may reuse it at once; the
    worker must route the new request's BODY frames to the new request."""
    w = worker_factory("basic.echo", threads=4)
    w.ready()

    def start(rid: int, n: int) -> None:
        body = f"{rid}:{n}".encode()
        w.send([1, rid, w.environ(method="POST", CONTENT_LENGTH=str(len(body))), True], [2, rid, body], [3, rid])

    rounds = {rid: 0 for rid in range(1, 5)}
    for rid in rounds:
        start(rid, 0)
    bodies = {rid: b"" for rid in rounds}
    finished = 0
    while finished < 4 * 300:
        msg = w.recv()
        rid = msg[1]
        if msg[0] == 19:
            bodies[rid] += msg[2]
        if msg[0] != 20:
            assert msg[0] in (18, 19), msg
            continue
        assert bodies[rid] == f"{rid}:{rounds[rid]}".encode()
        bodies[rid] = b""
        finished += 1
        rounds[rid] += 1
        if rounds[rid] < 300:
            start(rid, rounds[rid])


def test_reload_dev_reports_module_files(worker_factory):
    from conftest import APPS_DIR

    w = worker_factory("basic.hello", extra_options={"reload": "dev"})
    w.ready()
    msg = w.recv()
    assert msg[0] == 25
    files = dict(msg[1])
    basic = APPS_DIR / "basic.py"
    assert str(basic) in files
    assert not any(f.endswith("/json/__init__.py") for f in files)  # the standard library is left out
    st = basic.stat()
    assert files[str(basic)] == f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}", "the identity the import read"


def test_reload_dev_reports_a_lazy_import_with_the_identity_it_was_imported_at(worker_factory, tmp_path):
    """An edit saved before the report leaves: the report still names the code the worker runs."""
    (tmp_path / "lazyapp.py").write_text(
        "def app(environ, start_response):\n"
        "    import lazymod\n"
        '    start_response("200 OK", [("Content-Type", "text/plain")])\n'
        "    return [lazymod.VALUE.encode()]\n"
    )
    lazymod = tmp_path / "lazymod.py"
    lazymod.write_text('VALUE = "before"\n')
    imported = lazymod.stat()
    w = worker_factory("lazyapp.app", cwd=tmp_path, pythonpath=(str(tmp_path),), extra_options={"reload": "dev"})
    w.ready()
    assert w.recv()[0] == 25  # what was imported at READY
    w.request(1)
    assert w.response(1)[2] == b"before"
    lazymod.write_text('VALUE = "after, longer"\n')
    msg = w.recv()
    assert msg[0] == 25
    assert dict(msg[1]) == {str(lazymod.resolve()): f"{imported.st_ino}:{imported.st_size}:{imported.st_mtime_ns}"}
