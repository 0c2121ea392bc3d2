"""The Python codec against protocol/vectors.json, and the msgpack-free LOAD_ERROR encoder."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import msgpack
import pytest

from spawning.bare_frame import send_raw_load_error
from spawning.channel import FrameReader, ProtocolError, _send_vectored, encode_frame, frame_parts
from spawning.tags import LOAD_ERROR, MAX_FRAME

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "protocol" / "vectors.json").read_text())["vectors"]


def _decode(v):
    if isinstance(v, dict) and set(v) == {"$bin"}:
        return bytes.fromhex(v["$bin"])
    if isinstance(v, list):
        return [_decode(i) for i in v]
    if isinstance(v, dict):
        return {k: _decode(i) for k, i in v.items()}
    return v


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_round_trip(vec):
    value = _decode(vec["value"])
    assert encode_frame(value).hex() == vec["frame"]
    frame = bytes.fromhex(vec["frame"])
    reader = FrameReader()
    assert reader.feed(frame[:3]) == []
    assert reader.feed(frame[3:]) == [value]


def test_many_frames_split_anywhere():
    stream = b"".join(bytes.fromhex(v["frame"]) for v in VECTORS) * 3
    expected = [_decode(v["value"]) for v in VECTORS] * 3
    for step in (1, 5, 64, len(stream)):
        reader = FrameReader()
        got = []
        for i in range(0, len(stream), step):
            got.extend(reader.feed(stream[i : i + step]))
        assert got == expected


def test_oversized_frame_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        FrameReader().feed((MAX_FRAME + 1).to_bytes(4, "big") + b"\x90")


@pytest.mark.parametrize("size", [3, 31, 32, 255, 256, 70000])
def test_bare_load_error_frame_is_valid_msgpack(size):
    mine, theirs = socket.socketpair()
    error = {"kind": "python-packages", "message": "é" * size, "where": "", "traceback": ""}
    send_raw_load_error(theirs.fileno(), error, LOAD_ERROR)
    theirs.close()
    data = b""
    while chunk := mine.recv(1 << 20):
        data += chunk
    assert FrameReader().feed(data) == [[LOAD_ERROR, error]]
    assert data[4:] == msgpack.packb([LOAD_ERROR, error], use_bin_type=True)


@pytest.mark.parametrize("size", [0, 4095, 4096, 65535, 65536, 300_000])
def test_frame_parts_are_the_bytes_of_the_packed_frame(size):
    """A large trailing payload is written after its frame's header, not copied in: same bytes."""
    value = [21, 7, "200 OK", ["Content-Type", "text/plain"], b"x" * size]
    parts = frame_parts(value)
    assert b"".join(parts) == encode_frame(value)
    if size >= 4096:
        assert parts[-1] is value[-1]


def test_a_frame_larger_than_the_buffer_over_many_reads_then_the_buffer_shrinks():
    big = [2, 1, bytes(range(256)) * 4096]  # a 1 MiB BODY frame, 4x the reader's buffer
    stream = encode_frame([3, 1]) + encode_frame(big) + encode_frame([3, 2])
    reader = FrameReader()
    got = []
    for i in range(0, len(stream), 65536 - 7):
        got.extend(reader.feed(stream[i : i + 65536 - 7]))
    assert got == [[3, 1], big, [3, 2]]
    assert len(reader.room()) == 256 * 1024


def test_vectored_writes_arrive_whole_over_a_small_socket_buffer():
    """sendmsg may write part of its buffers: the rest follows, in order."""
    mine, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    frames = [[19, i, bytes([i]) * (5000 + i)] for i in range(40)] + [[20, 99]]
    buffers = [p for f in frames for p in frame_parts(f)]
    import threading

    sender = threading.Thread(target=_send_vectored, args=(theirs, buffers))
    sender.start()
    reader, got = FrameReader(), []
    while len(got) < len(frames):
        got.extend(reader.received(mine.recv_into(reader.room())))
    sender.join()
    assert got == frames
