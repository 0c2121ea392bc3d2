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
_IOV_MAX = 1024


_packer = msgpack.Packer(use_bin_type=True)
# A payload from this size on is written as it is, after its frame's header, rather than copied
# into the packed frame (as protocol/frame-codec.ts does): the same bytes on the wire.
_ZERO_COPY_MIN = 4096
# At least this much room for each recv: the child writes up to 64 KiB of body per frame.
_MIN_READ = 64 * 1024


def encode_frame(value: Any) -> bytes:
    body: bytes = _packer.pack(value)
    return _pack_header(len(body)) + body


def frame_parts(value: Any) -> list[bytes]:
    """A frame as buffers to write in order: ``[header + packed prefix, payload]`` when the value is a list
    ending in a large bytes payload (BODY, CHUNK, RESPONSE), which is then not copied; else one buffer."""
    if type(value) is list and value:
        last = value[-1]
        if type(last) is bytes and len(last) >= _ZERO_COPY_MIN:
            # Packed with an empty bin (c4 00) in its place, whose header is swapped for the real one.
            prefix = _packer.pack(value[:-1] + [b""])
            n = len(last)
            head = prefix[:-2] + (b"\xc5" + n.to_bytes(2, "big") if n < 0x10000 else b"\xc6" + n.to_bytes(4, "big"))
            return [_pack_header(len(head) + n) + head, last]
    return [encode_frame(value)]


class ProtocolError(Exception):
    """The peer broke the framing; the channel cannot be trusted any further."""


class FrameReader:
    """Splits a byte stream into decoded frames.

    Bytes are received into one buffer and decoded from it in place: a frame
    that arrives over several reads is not joined, only moved to the buffer's
    start when the room after it runs short, and the buffer grows for a frame
    larger than itself.
    """

    def __init__(self) -> None:
        self._buf = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buf)
        # Bytes [start, end) are received and not decoded yet: the start of a frame.
        self._start = 0
        self._end = 0
        # Bytes from ``start`` that the next frame needs (its prefix, then prefix and payload).
        self._need = 4

    def room(self) -> memoryview:
        """Where the next read goes: free space after the bytes held, enough for the frame under way."""
        held = self._end - self._start
        want = max(_MIN_READ, self._need - held)
        if len(self._buf) - self._end < want:
            if held + want > len(self._buf):
                buf = bytearray(held + want)
                buf[:held] = self._view[self._start : self._end]
                self._buf, self._view = buf, memoryview(buf)
            else:
                # Copied out first: the two ranges may overlap.
                self._buf[:held] = bytes(self._view[self._start : self._end])
            self._start, self._end = 0, held
        return self._view[self._end :]

    def received(self, n: int) -> list[Any]:
        """Decodes every frame completed by the ``n`` bytes just read into ``room()``."""
        self._end += n
        view, off, end = self._view, self._start, self._end
        out: list[Any] = []
        self._need = 4
        while end - off >= 4:
            (size,) = _unpack_header(view, off)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
            if end - off - 4 < size:
                self._need = 4 + size
                break
            out.append(_unpackb(view[off + 4 : off + 4 + size], raw=False))
            off += 4 + size
        if off == end:
            off = end = 0
            if len(self._buf) > _RECV_SIZE:
                # A large frame is done: its buffer goes.
                self._buf = bytearray(_RECV_SIZE)
                self._view = memoryview(self._buf)
        self._start, self._end = off, end
        return out

    def feed(self, data: bytes | memoryview) -> list[Any]:
        """Decodes every complete frame in ``data`` (plus what came before); ``data`` is copied, so it may be reused."""
        out: list[Any] = []
        data = memoryview(data)
        while data:
            room = self.room()
            n = min(len(room), len(data))
            room[:n] = data[:n]
            data = data[n:]
            out.extend(self.received(n))
        return out


def _coalesced(buffers: list[bytes]) -> list[bytes]:
    """Runs of small buffers joined into one, large ones left as they are: few iovecs, no large copies."""
    out: list[bytes] = []
    run: list[bytes] = []
    for b in buffers:
        if len(b) >= _ZERO_COPY_MIN:
            if run:
                out.append(run[0] if len(run) == 1 else b"".join(run))
                run = []
            out.append(b)
        else:
            run.append(b)
    if run:
        out.append(run[0] if len(run) == 1 else b"".join(run))
    return out


def _send_vectored(sock: socket.socket, buffers: list[bytes]) -> None:
    """``sendall`` over several buffers in one ``sendmsg`` (writev), continuing after partial sends."""
    views = [memoryview(b) for b in _coalesced(buffers)]
    while views:
        sent = sock.sendmsg(views[:_IOV_MAX])
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        # Buffers to write, in order (a frame may be two: see frame_parts).
        self._queue: list[bytes] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        # recv_into the reader's own buffer: recv() would allocate (mmap) and shrink (mremap)
        # a fresh bytes object per call, and a frame over several reads would be joined.
        self._reader = FrameReader()
        self.closed = False
        self._vectored = True
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
        # eventlet's socket passes sendmsg to the non-blocking socket below it, uncooperatively.
        self._vectored = False

    # -- writing -------------------------------------------------------------

    def send(self, value: Any) -> None:
        parts = frame_parts(value)
        with self._queue_lock:
            self._queue.extend(parts)
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
                if len(pending) == 1:
                    self._sock.sendall(pending[0])
                elif self._vectored and any(len(b) >= _ZERO_COPY_MIN for b in pending):
                    _send_vectored(self._sock, pending)
                else:
                    self._sock.sendall(b"".join(pending))
            except OSError:
                self.closed = True

    # -- reading -------------------------------------------------------------

    def receive(self) -> list[Any] | None:
        """Blocks for the next batch of frames; None at EOF or on a broken frame."""
        while True:
            try:
                n = self._sock.recv_into(self._reader.room())
            except OSError:
                n = 0
            if n == 0:
                self.closed = True
                return None
            try:
                frames = self._reader.received(n)
            except (ProtocolError, ValueError) as exc:
                log(f"closing the channel: {exc}")
                self.closed = True
                return None
            if frames:
                return frames
