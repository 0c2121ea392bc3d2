"""The Python codec against protocol/vectors.json, and the msgpack-free LOAD_ERROR encoder."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import msgpack
import pytest

from spawning.bare_frame import send_raw_load_error
from spawning.channel import FrameReader, ProtocolError, encode_frame
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
