"""One LOAD_ERROR frame written without the msgpack package, for when it is missing."""

from __future__ import annotations

import socket


def send_raw_load_error(fd: int, error: dict[str, str], tag: int) -> None:
    """Sends a LOAD_ERROR frame without the msgpack package (for when it is missing).

    Encodes ``[tag, {str: str}]`` by hand: fixarray, fixmap and str8/16/32.
    """

    def enc_str(s: str) -> bytes:
        b = s.encode("utf-8")
        n = len(b)
        if n < 32:
            return bytes([0xA0 | n]) + b
        if n < 256:
            return bytes([0xD9, n]) + b
        if n < 65536:
            return b"\xda" + n.to_bytes(2, "big") + b
        return b"\xdb" + n.to_bytes(4, "big") + b

    items = list(error.items())[:15]
    body = bytes([0x92, tag]) + bytes([0x80 | len(items)])
    for k, v in items:
        body += enc_str(k) + enc_str(v)
    frame = len(body).to_bytes(4, "big") + body
    sock = socket.socket(fileno=fd)
    try:
        sock.sendall(frame)
    except OSError:
        pass
    finally:
        sock.detach()
