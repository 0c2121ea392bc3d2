"""Responses: RESPONSE vs START/CHUNK/END, write(), errors, exc_info, file_wrapper, environ."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest


def test_ready_then_hello_with_added_content_length(worker_factory):
    w = worker_factory("basic.hello_list")
    info = w.ready()
    assert info == {"pid": w.proc.pid, "python": info["python"], "threads": 4, "app": "basic.hello_list", "factory": "spawning.wsgi_factory.config_factory"}
    w.request(1)
    msg = w.recv()
    assert msg[0] == 21 and msg[1] == 1  # one RESPONSE frame
    assert (msg[2], msg[3], msg[4]) == ("200 OK", ["Content-Type", "text/plain", "Content-Length", "13"], b"Hello, world!")


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


def test_custom_factory_contract(worker_factory):
    w = worker_factory("greetings from a factory", factory="factories.custom_factory")
    info = w.ready()
    assert info["factory"] == "factories.custom_factory"
    w.request(1)
    assert w.response(1)[2] == b"greetings from a factory"


def test_streaming_is_start_chunks_end(worker_factory):
    w = worker_factory("basic.stream")
    w.ready()
    w.request(1, path="/196608")
    start = w.recv()
    assert start[:3] == [18, 1, "200 OK"] and start[3] == ["Content-Type", "application/octet-stream"]
    sizes = []
    while True:
        msg = w.recv()
        if msg[0] == 20:
            break
        assert msg[0] == 19
        sizes.append(len(msg[2]))
    assert sizes == [65536, 65536, 65536]


@pytest.mark.parametrize("threads", [1, 4])
def test_iterable_holding_its_whole_content_length_is_one_response_frame(worker_factory, threads):
    w = worker_factory("basic.hello_closing", threads=threads)
    w.ready()
    w.request(1)
    assert w.recv() == [21, 1, "200 OK", ["Content-Type", "text/plain", "Content-Length", "13"], b"Hello, world!"]


def test_iterable_that_yields_past_its_content_length_still_streams_everything(worker_factory):
    w = worker_factory("basic.more_than_declared")
    w.ready()
    w.request(1)
    assert w.recv()[:3] == [18, 1, "200 OK"]
    assert w.recv() == [19, 1, b"first"]
    assert w.recv() == [19, 1, b"second"]
    assert w.recv() == [20, 1]


def test_write_callable_then_iterable(worker_factory):
    w = worker_factory("basic.writer")
    w.ready()
    w.request(1)
    status, headers, body = w.response(1)
    assert body == b"written returned" and "Content-Length" not in headers


@pytest.mark.parametrize(
    "path,method,status",
    [("/204_No_Content", "GET", "204 No Content"), ("/304_Not_Modified", "GET", "304 Not Modified"), ("/200_OK", "HEAD", "200 OK")],
)
def test_no_content_length_invented_for_bodiless_responses(worker_factory, path, method, status):
    w = worker_factory("basic.no_content")
    w.ready()
    w.request(1, path=path, method=method)
    got_status, headers, _ = w.response(1)
    assert got_status == status and "Content-Length" not in headers


def test_exception_gives_500_without_traceback(worker_factory):
    w = worker_factory("basic.boom")
    w.ready()
    w.request(1)
    status, headers, body = w.response(1)
    assert status == "500 Internal Server Error" and headers["Content-Type"].startswith("text/plain")
    assert b"secret" not in body and b"Traceback" not in body
    w.close()
    err = w.stderr()
    assert f"[spawning worker {w.proc.pid}] error in the WSGI application (GET /)" in err
    assert "Traceback" in err and "RuntimeError: secret internal detail" in err


def test_invalid_status_is_a_500(worker_factory):
    w = worker_factory("basic.bad_status")
    w.ready()
    w.request(1)
    assert w.response(1)[0] == "500 Internal Server Error"
    w.close()
    assert "invalid status 200" in w.stderr()


def test_invalid_response_headers_are_refused_every_time(worker_factory):
    # The worker remembers the names and values it found valid (the regular expressions cost more than
    # the rest of start_response): an invalid one is still refused, before and after valid ones.
    w = worker_factory("basic.header_from_request")
    w.ready()
    cases = [("X-Value", "ok", True), ("X-Value", "a\rb", False), ("X Bad", "ok", False), ("X-Value", "ok", True), ("X-Value", "a\rb", False)]
    for rid, (name, value, valid) in enumerate(cases, 1):
        w.request(rid, headers={"HTTP_X_NAME": name, "HTTP_X_VALUE": value})
        status, headers, _ = w.response(rid)
        if valid:
            assert status == "200 OK" and headers[name] == value
        else:
            assert status == "500 Internal Server Error", (name, value)
    w.close()
    assert w.stderr().count("ValueError: invalid characters in response header") == 3


def test_exc_info_replaces_unsent_headers(worker_factory):
    w = worker_factory("basic.exc_info_app")
    w.ready()
    w.request(1)
    status, _, body = w.response(1)
    assert status.startswith("503") and body == b"replaced"


def test_exc_info_after_headers_reraises_and_fails(worker_factory):
    w = worker_factory("basic.exc_info_after_headers")
    w.ready()
    w.request(1)
    assert w.recv()[0] == 18
    assert w.recv() == [19, 1, b"partial"]
    fail = w.recv()
    assert fail[:2] == [23, 1] and "late" in fail[2]
    w.close()
    assert "KeyError: 'late'" in w.stderr()


def test_exception_after_start_sends_fail(worker_factory):
    w = worker_factory("basic.fail_after_start")
    w.ready()
    w.request(1)
    assert w.recv()[0] == 18
    assert w.recv() == [19, 1, b"first"]
    assert w.recv() == [23, 1, "RuntimeError: broke mid-stream"]


def _held_file(w: Any, frame: list[Any]) -> bytes:
    """Reads the file a FILE frame names, as the child does: through the worker's /proc fd entry."""
    with open(f"/proc/{w.proc.pid}/fd/{frame[2]}", "rb") as f:
        f.seek(frame[3])
        return f.read() if frame[4] < 0 else f.read(frame[4])


def _worker_fds(w: Any) -> set[int]:
    return {int(n) for n in os.listdir(f"/proc/{w.proc.pid}/fd")}


def test_file_wrapper_is_sent_by_descriptor(worker_factory, tmp_path):
    data = bytes(range(256)) * 4096
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    w = worker_factory("basic.sendfile_raw")
    w.ready()
    w.request(1, headers={"HTTP_X_FILE": str(f)})
    # No Content-Length from the app: the file's size is declared.
    assert w.recv() == [18, 1, "200 OK", ["Content-Type", "application/octet-stream", "Content-Length", str(len(data))]]
    frame = w.recv()
    assert frame[:2] == [22, 1] and frame[3:] == [0, len(data)]
    assert w.recv() == [20, 1]
    assert _held_file(w, frame) == data
    # Held until the child says it opened its own; then closed.
    assert frame[2] in _worker_fds(w)
    w.send([7, frame[2]])
    deadline = time.monotonic() + 5
    while frame[2] in _worker_fds(w) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert frame[2] not in _worker_fds(w)


def test_file_wrapper_sends_the_opened_file_after_it_was_deleted_or_replaced(worker_factory, tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"original " * 1000)
    w = worker_factory("basic.sendfile_then_replace")
    w.ready()
    w.request(1, headers={"HTTP_X_FILE": str(f)})
    assert w.recv()[0] == 18
    frame = w.recv()
    assert frame[0] == 22
    assert w.recv() == [20, 1]
    assert f.read_bytes() == b"replaced"
    assert _held_file(w, frame) == b"original " * 1000


def test_file_wrapper_offset_and_length(worker_factory, tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(bytes(range(256)) * 16)
    w = worker_factory("basic.sendfile_range")
    w.ready()
    w.request(1, headers={"HTTP_X_FILE": str(f)})
    assert w.recv()[0] == 18
    frame = w.recv()
    assert frame[0] == 22 and frame[3:] == [1000, 1000]
    assert w.recv() == [20, 1]
    assert _held_file(w, frame) == (bytes(range(256)) * 16)[1000:2000]


def test_file_wrapper_for_head_sends_no_file(worker_factory, tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"x" * 5000)
    w = worker_factory("basic.sendfile_raw")
    w.ready()
    w.request(1, method="HEAD", headers={"HTTP_X_FILE": str(f)})
    assert w.recv() == [18, 1, "200 OK", ["Content-Type", "application/octet-stream"]]
    assert w.recv() == [20, 1]


def test_early_hints_go_out_before_the_response(worker_factory):
    w = worker_factory("basic.early_hints")
    w.ready()
    w.request(1)
    assert w.recv() == [26, 1, ["Link", "</style.css>; rel=preload; as=style", "Link", "</app.js>; rel=preload; as=script"]]
    status, _, body = w.response(1)
    assert status == "200 OK" and body == b"hinted"


def test_early_hints_are_a_no_op_for_http_1_0(worker_factory):
    w = worker_factory("basic.early_hints")
    w.ready()
    w.request(1, headers={"SERVER_PROTOCOL": "HTTP/1.0"})
    assert w.recv()[0] == 21


def test_early_hints_refuse_bad_headers(worker_factory):
    w = worker_factory("basic.early_hints_bad")
    w.ready()
    w.request(1)
    status, _, body = w.response(1)
    assert status == "200 OK" and body == b"ValueError"


def test_file_wrapper_without_a_file_is_iterated(worker_factory):
    w = worker_factory("basic.bytes_wrapper")
    w.ready()
    w.request(1)
    _, _, body = w.response(1)
    assert body == b"z" * 100000


def test_file_wrapper_through_validator_streams(worker_factory, tmp_path):
    f = tmp_path / "small.txt"
    f.write_bytes(b"validated file body")
    w = worker_factory("basic.sendfile")
    w.ready()
    w.request(1, headers={"HTTP_X_FILE": str(f)})
    assert w.response(1)[2] == b"validated file body"


@pytest.mark.parametrize("threads,processes", [(4, 2), (1, 1)])
def test_environ_completed_by_the_worker(worker_factory, threads, processes):
    w = worker_factory("basic.environ_dump", threads=threads, processes=processes)
    w.ready()
    w.request(1, path="/caf\u00e9", headers={"HTTP_X_THING": "a, b", "wsgi.url_scheme": "https"})
    env = json.loads(w.response(1)[2])
    assert env == {
        "wsgi.version": [1, 0],
        "wsgi.multithread": threads > 1,
        "wsgi.multiprocess": processes > 1,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.url_scheme": "https",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/caf\u00e9",
        "HTTP_X_THING": "a, b",
        "errors_is_stderr": True,
        "has_file_wrapper": True,
    }


def test_app_stdout_is_not_the_channel(worker_factory):
    w = worker_factory("basic.prints")
    w.ready()
    w.request(1)
    assert w.response(1)[2] == b"ok"
    w.send([6])
    assert w.proc.wait(5) == 0
    assert w.stdout() == "app output on stdout\n"
