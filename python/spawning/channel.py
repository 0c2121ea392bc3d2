"""Framed msgpack channel to the child (see protocol/PROTOCOL.md).

Frame: ``uint32 big-endian length | msgpack value``. Writes from every thread
are combined: whichever thread finds the write lock free sends everything
queued in one ``sendall``, so concurrent responses share a syscall.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import msgpack

from .tags import MAX_FRAME

_HEADER = struct.Struct(">I")
_pack = msgpack.Packer(use_bin_type=True).pack


def encode_frame(value: Any) -> bytes:
    body = _pack(value)
    return _HEADER.pack(len(body)) + body


class ProtocolError(Exception):
    pass


class FrameReader:
    """Splits a byte stream into decoded frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buf = self._buf
        buf += data
        out: list[Any] = []
        off = 0
        size = len(buf)
        while size - off >= 4:
            (n,) = _HEADER.unpack_from(buf, off)
            if n > MAX_FRAME:
                raise ProtocolError(f"frame of {n} bytes exceeds the {MAX_FRAME}-byte limit")
            if size - off - 4 < n:
                break
            out.append(msgpack.unpackb(buf[off + 4 : off + 4 + n], raw=False))
            off += 4 + n
        if off:
            del buf[:off]
        return out


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._queue: list[bytes] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reader = FrameReader()
        self.closed = False
        # While corked (the inline reader is handling a batch), sends only queue.
        self._corked = False

    # -- writing -------------------------------------------------------------

    def send(self, value: Any) -> None:
        frame = encode_frame(value)
        with self._queue_lock:
            self._queue.append(frame)
        if not self._corked:
            self.flush()

    def cork(self) -> None:
        self._corked = True

    def uncork(self) -> None:
        self._corked = False
        self.flush()

    def flush(self) -> None:
        while True:
            if not self._write_lock.acquire(blocking=False):
                return  # the holder re-checks the queue after releasing
            try:
                with self._queue_lock:
                    pending, self._queue = self._queue, []
                if pending and not self.closed:
                    try:
                        self._sock.sendall(pending[0] if len(pending) == 1 else b"".join(pending))
                    except OSError:
                        self.closed = True
            finally:
                self._write_lock.release()
            with self._queue_lock:
                if not self._queue:
                    return

    # -- reading -------------------------------------------------------------

    def receive(self) -> list[Any] | None:
        """Blocks for the next batch of frames; None at EOF."""
        while True:
            try:
                data = self._sock.recv(262144)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return None
            frames = self._reader.feed(data)
            if frames:
                return frames

