"""A real worker process over a real socketpair, spoken to in real frames."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import msgpack
import pytest
from worker_options import worker_options

PYTHON_DIR = Path(__file__).resolve().parent.parent
APPS_DIR = Path(__file__).resolve().parent / "apps"


class WorkerHarness:
    def __init__(
        self,
        app: str | list[str],
        threads: int = 4,
        python: str = sys.executable,
        python_flags: tuple[str, ...] = (),
        cwd: Path = APPS_DIR,
        factory: str = "spawning.wsgi_factory.config_factory",
        processes: int = 1,
        extra_options: dict[str, Any] | None = None,
        omit_options: tuple[str, ...] = (),
        pythonpath: tuple[str, ...] = (),
    ) -> None:
        self.sock, theirs = socket.socketpair()
        args = [app] if isinstance(app, str) else app
        options = worker_options(factory=factory, args=args, threads=threads, processes=processes, host="127.0.0.1", port=8080, **(extra_options or {}))
        for key in omit_options:
            del options[key]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([*pythonpath, str(PYTHON_DIR)]))
        # A file, not a pipe: a chatty worker must never block on a full pipe nobody reads.
        self._stderr = tempfile.TemporaryFile()
        self._stdout = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [python, *python_flags, "-m", "spawning.worker", "--channel-fd", str(theirs.fileno()), "--options-json", json.dumps(options)],
            pass_fds=[theirs.fileno()],
            env=env,
            cwd=str(cwd),
            stdout=self._stdout,
            stderr=self._stderr,
        )
        theirs.close()
        self.sock.settimeout(10)
        self._buf = b""
        self._stash: list[Any] = []  # frames of other requests, kept for their turn

    def send(self, *messages: Any) -> None:
        data = b""
        for m in messages:
            body = msgpack.packb(m, use_bin_type=True)
            data += struct.pack(">I", len(body)) + body
        self.sock.sendall(data)

    def recv(self) -> Any:
        while True:
            if len(self._buf) >= 4:
                (n,) = struct.unpack(">I", self._buf[:4])
                if len(self._buf) >= 4 + n:
                    msg = msgpack.unpackb(self._buf[4 : 4 + n], raw=False)
                    self._buf = self._buf[4 + n :]
                    return msg
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self._buf += chunk

    def ready(self) -> dict[str, Any]:
        msg = self.recv()
        assert msg is not None and msg[0] == 16, msg
        return msg[1]

    @staticmethod
    def environ(path: str = "/", method: str = "GET", **extra: str) -> dict[str, str]:
        return {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "5000",
            "wsgi.url_scheme": "http",
            **extra,
        }

    def request(self, rid: int, path: str = "/", method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        environ = self.environ(path, method, **(headers or {}))
        if body is not None:
            environ["CONTENT_LENGTH"] = str(len(body))
        self.send([1, rid, environ, body is not None])
        if body is not None:
            if body:
                self.send([2, rid, body])
            self.send([3, rid])

    def response(self, rid: int) -> tuple[str, dict[str, str], bytes]:
        """Collects one whole response, granting credit as a fast client would."""
        status = ""
        headers: dict[str, str] = {}
        body = b""
        while True:
            mine = [m for m in self._stash if m[1] == rid]
            if mine:
                msg = mine[0]
                self._stash.remove(msg)
            else:
                msg = self.recv()
            assert msg is not None, "worker closed the channel"
            if msg[1] != rid:
                self._stash.append(msg)
                continue
            if msg[0] == 21:
                flat = msg[3]
                return msg[2], dict(zip(flat[::2], flat[1::2])), msg[4]
            if msg[0] == 18:
                status, flat = msg[2], msg[3]
                headers = dict(zip(flat[::2], flat[1::2]))
            elif msg[0] == 19:
                body += msg[2]
                self.send([5, rid, len(msg[2])])
            elif msg[0] == 22:
                path, offset, length = msg[2], msg[3], msg[4]
                with open(path, "rb") as f:
                    f.seek(offset)
                    body += f.read() if length < 0 else f.read(length)
            elif msg[0] == 20:
                return status, headers, body
            elif msg[0] == 23:
                raise AssertionError(f"FAIL: {msg[2]}")

    def close(self) -> int:
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode()

    def stdout(self) -> str:
        self._stdout.seek(0)
        return self._stdout.read().decode()

    def terminal(self, rid: int) -> Any:
        """Skips CHUNK frames (granting credit) until the request's terminal frame."""
        while True:
            msg = self.recv()
            assert msg is not None, "worker closed the channel"
            if msg[1] != rid or msg[0] in (18, 22):
                continue
            if msg[0] == 19:
                self.send([5, rid, len(msg[2])])
                continue
            return msg


@pytest.fixture
def worker_factory() -> Iterator[Any]:
    made: list[WorkerHarness] = []

    def make(app: str | list[str], **kw: Any) -> WorkerHarness:
        w = WorkerHarness(app, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        if w.proc.poll() is None:
            w.close()
