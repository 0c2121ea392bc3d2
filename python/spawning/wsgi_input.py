"""``wsgi.input``: the request body, streamed from the child under a credit window.

The child may send INITIAL_WINDOW bytes beyond what it was granted. The worker
grants again (WINDOW_BODY, the bytes received since the last grant) once the
app has drained the buffer to half a window, or when the app is blocked
waiting for more. So the worker holds about a window and a half of body at
most, unless the app itself asks for more in one ``read(n)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from .tags import INITIAL_WINDOW

if TYPE_CHECKING:
    from .wsgi import Flow, Request

_LOW_WATER = INITIAL_WINDOW // 2


class ClientDisconnected(OSError):
    def __init__(self) -> None:
        super().__init__("client disconnected")


class WsgiInput:
    __slots__ = ("_req", "_flow", "_buf", "_eof", "_received_since_grant")

    def __init__(self, req: Request, flow: Flow, has_body: bool) -> None:
        self._req = req
        self._flow = flow
        self._buf = bytearray()
        self._eof = not has_body
        self._received_since_grant = 0

    # -- fed by the reader (under flow.cond) ---------------------------------

    def feed(self, data: bytes) -> None:
        self._buf += data
        self._received_since_grant += len(data)

    def end(self) -> None:
        self._eof = True

    # -- used by the app -----------------------------------------------------

    def _grant(self, blocking: bool) -> None:
        n = self._received_since_grant
        if n and not self._eof and (blocking or len(self._buf) <= _LOW_WATER):
            self._received_since_grant = 0
            self._flow.grant_body(self._req.id, n)

    def _wait(self) -> None:
        """Blocks until more data, EOF or abort."""
        req = self._req
        if req.aborted:
            raise ClientDisconnected()
        if self._eof:
            return
        self._grant(blocking=True)
        seen = len(self._buf)
        self._flow.wait_for(lambda: len(self._buf) > seen or self._eof or req.aborted)
        if req.aborted:
            raise ClientDisconnected()

    def _take(self, n: int) -> bytes:
        with self._flow.cond:
            buf = self._buf
            data = bytes(buf[:n])
            del buf[:n]
            self._grant(blocking=False)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while not self._eof:
                self._wait()
            return self._take(len(self._buf))
        while len(self._buf) < size and not self._eof:
            self._wait()
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0 and (limit < 0 or idx < limit):
                return self._take(idx + 1)
            if limit >= 0 and len(self._buf) >= limit:
                return self._take(limit)
            if self._eof:
                return self._take(len(self._buf))
            self._wait()

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line
