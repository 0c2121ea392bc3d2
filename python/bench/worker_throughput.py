"""Micro-benchmark: REQUEST frames through a real worker over a socketpair.

    PYTHONPATH=python .venv/bin/python python/bench/worker_throughput.py [--requests N] [--threads T] [--depth D] [--app APP]

Keeps ``depth`` requests in flight (as a busy child would) and prints requests/s,
by wall clock and per CPU-second of the worker (steadier on a shared machine).
The app is tests/apps/basic.hello_list, so this measures the worker's own
per-request cost: framing, dispatch, environ, start_response, RESPONSE.
``--app basic.hello_closing`` answers with an iterable that is not a list, as
Flask and every werkzeug app do.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from worker_options import worker_options  # noqa: E402  (found through the line above)
ENVIRON = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "RAW_URI": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8080",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "50000",
    "HTTP_HOST": "127.0.0.1:8080",
    "HTTP_USER_AGENT": "bench",
    "HTTP_ACCEPT": "*/*",
    "wsgi.url_scheme": "http",
}


def frame(value: object) -> bytes:
    body = msgpack.packb(value, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def run(requests: int, threads: int, depth: int, app: str) -> tuple[float, float]:
    mine, theirs = socket.socketpair()
    options = worker_options(args=[app], threads=threads, processes=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "spawning.worker", "--channel-fd", str(theirs.fileno()), "--options-json", json.dumps(options)],
        pass_fds=[theirs.fileno()],
        env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
        cwd=str(HERE.parent / "tests" / "apps"),
    )
    theirs.close()
    buf = b""

    def frames() -> list[object]:
        nonlocal buf
        buf += mine.recv(1 << 20)
        out = []
        while len(buf) >= 4:
            (n,) = struct.unpack_from(">I", buf)
            if len(buf) < 4 + n:
                break
            out.append(msgpack.unpackb(buf[4 : 4 + n], raw=False))
            buf = buf[4 + n :]
        return out

    assert frames()[0][0] == 16  # READY
    sent = done = 0
    t0 = time.perf_counter()
    while done < requests:
        batch = min(depth - (sent - done), requests - sent)
        if batch > 0:
            mine.sendall(b"".join(frame([1, (sent + i) & 0xFFFFFFFF, ENVIRON, False]) for i in range(batch)))
            sent += batch
        for msg in frames():
            assert msg[0] in (18, 19, 20, 21), msg
            if msg[0] in (20, 21):  # END or RESPONSE: the request is answered
                done += 1
    elapsed = time.perf_counter() - t0
    mine.sendall(frame([6]))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    mine.close()
    # CPU seconds include the app import; small next to 20k requests, and stable on a busy machine.
    return requests / elapsed, requests / (usage.ru_utime + usage.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--app", default="basic.hello_list")
    args = parser.parse_args()
    for threads in args.threads:
        wall, cpu = run(args.requests, threads, args.depth, args.app)
        print(f"threads={threads:<3} depth={args.depth:<4} {wall:>10,.0f} requests/s (wall)  {cpu:>10,.0f} requests per worker CPU-second")


if __name__ == "__main__":
    main()
