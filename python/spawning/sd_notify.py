"""Sends the controller's sd_notify(3) messages to systemd's $NOTIFY_SOCKET.

Node cannot send a datagram on a Unix socket, so the controller starts this
helper once and writes one JSON string per line on its stdin ("READY=1",
"RELOADING=1\\nMONOTONIC_USEC=..."); each becomes one datagram. It lives as
long as the controller (it exits when stdin closes) rather than once per
message, as `systemd-notify` would: systemd attributes a message to a unit by
the sender's cgroup, and before systemd 254 a sender that has already exited
may not be attributed at all, so its message is dropped.
"""

from __future__ import annotations

import json
import os
import socket
import sys


def address(value: str) -> str:
    """An abstract socket is written '@name'; on the wire it starts with a NUL byte."""
    return "\0" + value[1:] if value.startswith("@") else value


def main() -> int:
    target = os.environ.get("NOTIFY_SOCKET", "")
    if not target:
        return 0
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        try:
            sock.sendto(str(message).encode(), address(target))
        except OSError as err:
            sys.stderr.write(f"spawning: cannot notify systemd at {target}: {err.strerror}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
