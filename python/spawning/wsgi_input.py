"""``wsgi.input``: the request body, streamed from the child under a credit window.

The child may send while ``INITIAL_WINDOW + granted - received`` is positive.
The worker grants (WINDOW_BODY) the bytes the app has consumed, in batches of
a quarter window, so the buffer never holds much more than one window. When
the app blocks for more than is buffered (``read(n)`` with a large ``n``), the
worker grants everything received so far, so a big read cannot deadlock.

The pieces are held as they arrived (BODY frames' bytes): a read that takes
exactly one piece, or the whole body of one piece, returns it without a copy;
a read across pieces joins them once.
"""

from __future__ import annotations

from collections import deque
from typing import Iterator, Protocol

from .flow import Flow
from .tags import INITIAL_WINDOW

_GRANT_BATCH = INITIAL_WINDOW // 4


class BodyOwner(Protocol):
    """What the input reads of its request (``spawning.wsgi.Request``), which imports this module."""

    @property
    def id(self) -> int: ...

    @property
    def aborted(self) -> bool: ...


class ClientDisconnected(OSError):
    def __init__(self) -> None:
        super().__init__("client disconnected")


class WsgiInput:
    __slots__ = ("_req", "_flow", "_chunks", "_offset", "_held", "_eof", "_received", "_consumed", "_granted")

    def __init__(self, req: BodyOwner, flow: Flow, has_body: bool) -> None:
        self._req = req
        self._flow = flow
        # Pieces received and not read; the first from ``_offset`` on. ``_held`` counts their bytes.
        self._chunks: deque[bytes] = deque()
        self._offset = 0
        self._held = 0
        self._eof = not has_body
        # Totals since the request began; credit granted never exceeds bytes received.
        self._received = 0
        self._consumed = 0
        self._granted = 0

    # -- fed by the reader (under flow.cond) ---------------------------------

    def feed(self, data: bytes) -> None:
        if not self._eof and data:
            self._chunks.append(data)
            self._held += len(data)
            self._received += len(data)

    def end(self) -> None:
        self._eof = True

    @property
    def complete(self) -> bool:
        """The whole body has arrived: reading it cannot wait for the channel."""
        return self._eof

    # -- used by the app -----------------------------------------------------

    def _credit_upto(self, total: int) -> int:
        """Records a grant up to ``total`` bytes; the caller sends it outside the lock."""
        n = total - self._granted
        if n > 0 and not self._eof and not self._req.aborted:
            self._granted = total
            return n
        return 0

    def _wait(self) -> None:
        """Blocks until more data, EOF or abort."""
        req = self._req
        if req.aborted:
            raise ClientDisconnected()
        if self._eof:
            return
        with self._flow.cond:
            # Only when the child is (nearly) out of credit: otherwise more is already coming.
            low = INITIAL_WINDOW + self._granted - self._received <= _GRANT_BATCH
            grant = self._credit_upto(self._received) if low else 0
            seen = self._received
        if grant:
            self._flow.grant_body(req.id, grant)
        self._flow.wait_for(lambda: self._received > seen or self._eof or req.aborted)
        if req.aborted:
            raise ClientDisconnected()

    def _pop(self, n: int) -> bytes:
        """The next ``n`` bytes held (all of them if fewer); under flow.cond."""
        chunks = self._chunks
        if n <= 0 or not chunks:
            return b""
        first, off = chunks[0], self._offset
        if off == 0 and n >= len(first):
            if len(chunks) == 1 or n == len(first):
                # One whole piece: no copy.
                self._offset = 0
                self._held -= len(first)
                return chunks.popleft()
        if off + n < len(first):
            self._offset = off + n
            self._held -= n
            return first[off : off + n]
        parts: list[bytes | memoryview] = []
        need = min(n, self._held)
        self._held -= need
        while need:
            first = chunks[0]
            rest = len(first) - off
            if rest <= need:
                parts.append(memoryview(first)[off:] if off else first)
                chunks.popleft()
                need -= rest
                off = 0
            else:
                parts.append(memoryview(first)[off : off + need])
                off += need
                need = 0
        self._offset = off
        return b"".join(parts)

    def _line_length(self, start: int) -> int:
        """Bytes up to and including the first newline held, searching from ``start``; -1 if there is none.

        Pieces are joined into one first (a line is rarely split across BODY frames)."""
        with self._flow.cond:
            chunks = self._chunks
            if not chunks:
                return -1
            if len(chunks) > 1:
                joined = b"".join([memoryview(chunks[0])[self._offset :], *list(chunks)[1:]])
                chunks.clear()
                chunks.append(joined)
                self._offset = 0
            first, off = chunks[0], self._offset
        idx = first.find(b"\n", off + start)
        return -1 if idx < 0 else idx - off + 1

    def _take(self, n: int) -> bytes:
        with self._flow.cond:
            data = self._pop(n)
            self._consumed += len(data)
            grant = self._credit_upto(self._consumed) if self._consumed - self._granted >= _GRANT_BATCH else 0
        if grant:
            self._flow.grant_body(self._req.id, grant)
        return data

    def _check(self) -> None:
        if self._req.aborted:
            raise ClientDisconnected()

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        if size is None or size < 0:
            while not self._eof:
                self._wait()
            return self._take(self._held)
        while self._held < size and not self._eof:
            self._wait()
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        self._check()
        limit = -1 if size is None else size
        start = 0
        while True:
            n = self._line_length(start)
            if n > 0 and (limit < 0 or n <= limit):
                return self._take(n)
            if limit >= 0 and self._held >= limit:
                return self._take(limit)
            if self._eof:
                return self._take(self._held)
            # Only the new bytes need searching next time.
            start = self._held
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


class EmptyInput:
    """``wsgi.input`` of a request without a body: cheaper than a WsgiInput per GET."""

    __slots__ = ("_req",)

    complete = True

    def __init__(self, req: BodyOwner) -> None:
        self._req = req

    def _check(self) -> None:
        if self._req.aborted:
            raise ClientDisconnected()

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        self._check()
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        self._check()
        return []

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        self._check()
        raise StopIteration

    # The reader may still deliver stray frames for a request declared bodiless.
    def feed(self, data: bytes) -> None:
        pass

    def end(self) -> None:
        pass
