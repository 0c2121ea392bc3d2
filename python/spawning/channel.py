"""The worker channel: length-prefixed msgpack frames on a socket (protocol/PROTOCOL.md).

    +--------+--------+--------+--------+----------------------+
    |  payload length N (uint32, big-endian) | N bytes msgpack  |
    +--------+--------+--------+--------+----------------------+

Writes from every thread are combined (flat combining): a sender queues its
frame, and whichever thread finds the write lock free sends everything queued
in one ``sendall``. Concurrent responses therefore share a syscall without a
writer thread's hand-off on the fast path.
"""

from __future__ import annotations

import socket
import struct
import threading
from threading import get_ident
from typing import Any, Callable

import msgpack

from .log import log
from .tags import MAX_FRAME

_HEADER = struct.Struct(">I")
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
_unpackb = msgpack.unpackb
_RECV_SIZE = 256 * 1024


def encode_frame(value: Any, _packer: msgpack.Packer = msgpack.Packer(use_bin_type=True)) -> bytes:
    body: bytes = _packer.pack(value)
    return _pack_header(len(body)) + body


class ProtocolError(Exception):
    """The peer broke the framing; the channel cannot be trusted any further."""


class FrameReader:
    """Splits a byte stream into decoded frames."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes | memoryview) -> list[Any]:
        """Decodes every complete frame in ``data``; the rest is copied, so ``data`` may be reused."""
        if self._rest:
            data = self._rest + data
        size = len(data)
        view = data if isinstance(data, memoryview) else memoryview(data)
        out: list[Any] = []
        off = 0
        while size - off >= 4:
            (n,) = _unpack_header(view, off)
            if n > MAX_FRAME:
                raise ProtocolError(f"frame of {n} bytes exceeds the {MAX_FRAME}-byte limit")
            end = off + 4 + n
            if end > size:
                break
            out.append(_unpackb(view[off + 4 : end], raw=False))
            off = end
        self._rest = bytes(view[off:]) if off < size else b""
        return out


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._queue: list[bytes] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reader = FrameReader()
        # One receive buffer for the channel's life: recv() would allocate (mmap) and shrink
        # (mremap) a fresh 256 KB bytes object per call, three syscalls more per read.
        self._buffer = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buffer)
        self.closed = False
        # The thread whose sends only queue while it runs a batch of requests itself
        # (see cork); it flushes once per batch.
        self._corked_by: int | None = None
        # Green mode: schedules a callback for the hub's next turn (see defer_flushes).
        self._schedule: Callable[[Callable[[], None]], None] | None = None
        self._flush_pending = False

    def defer_flushes(self, schedule: Callable[[Callable[[], None]], None]) -> None:
        """Green mode: a send only queues; one flush on the hub's next turn writes everything
        the greenlets sent meanwhile, in one ``sendall`` (as the child batches per event-loop turn)."""
        self._schedule = schedule

    # -- writing -------------------------------------------------------------

    def send(self, value: Any) -> None:
        frame = encode_frame(value)
        with self._queue_lock:
            self._queue.append(frame)
        if self._schedule is not None:
            if not self._flush_pending:
                self._flush_pending = True
                self._schedule(self._deferred_flush)
        elif self._corked_by != get_ident():
            self.flush()

    def cork(self) -> None:
        """Until uncork(), this thread's sends only queue: the responses of a batch leave in one write.
        Other threads' sends still flush, taking the queued frames with them."""
        self._corked_by = get_ident()

    def uncork(self) -> None:
        """Ends the cork, whichever thread holds it, and sends what is queued."""
        self._corked_by = None
        self.flush()

    def _deferred_flush(self) -> None:
        self._flush_pending = False
        self.flush()

    def flush(self) -> None:
        """Sends everything queued, unless another thread is already doing so."""
        while True:
            if not self._write_lock.acquire(blocking=False):
                return  # the holder re-checks the queue after releasing
            try:
                self._write_pending()
            finally:
                self._write_lock.release()
            if not self._queue:
                return

    def drain(self) -> None:
        """Blocks until everything queued so far is written (before exiting)."""
        with self._write_lock:
            self._write_pending()

    def _write_pending(self) -> None:
        with self._queue_lock:
            pending, self._queue = self._queue, []
        if pending and not self.closed:
            try:
                self._sock.sendall(pending[0] if len(pending) == 1 else b"".join(pending))
            except OSError:
                self.closed = True

    # -- reading -------------------------------------------------------------

    def receive(self) -> list[Any] | None:
        """Blocks for the next batch of frames; None at EOF or on a broken frame."""
        while True:
            try:
                n = self._sock.recv_into(self._buffer)
            except OSError:
                n = 0
            if n == 0:
                self.closed = True
                return None
            try:
                frames = self._reader.feed(self._view[:n])
            except (ProtocolError, ValueError) as exc:
                log(f"closing the channel: {exc}")
                self.closed = True
                return None
            if frames:
                return frames
