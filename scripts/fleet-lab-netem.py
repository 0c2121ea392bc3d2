#!/usr/bin/env python3
"""Delay and drop a network namespace's outgoing packets, for kernels built
without `sch_netem` (scripts/fleet-lab's latency fault falls back to it).

    fleet-lab-netem.py --queue 0 --delay-ms 200 --loss 5

It reads the packets that an `iptables -j NFQUEUE --queue-num N` rule hands to
user space, over the nfnetlink_queue protocol spoken directly on a
NETLINK_NETFILTER socket (stdlib only), and gives each its verdict: DROP at
once for `--loss` percent of them, ACCEPT `--delay-ms` after it arrived for the
rest. The delay is constant, so verdicts go out in arrival order (a FIFO, no
reordering), which is what `netem delay 200ms loss 5%` does without jitter.
The rule should carry `--queue-bypass`: if this process dies, packets flow
again instead of being dropped.

Frames on the socket (host byte order except where marked BE):

    nlmsghdr  | len u32 | type u16 | flags u16 | seq u32 | pid u32 |
    nfgenmsg  | family u8 | version u8 | res_id u16 BE (the queue number) |
    nlattr*   | len u16 | type u16 | payload, padded to 4 bytes |
"""
from __future__ import annotations

import argparse
import collections
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_DROP = 0
NF_ACCEPT = 1


def attr(kind: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), kind)
    pad = (4 - len(payload) % 4) % 4
    return head + payload + b"\0" * pad


def message(kind: int, queue: int, attrs: bytes, seq: int, flags: int = NLM_F_REQUEST) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def packet_ids(data: bytes) -> list[int]:
    """The packet ids of every NFQNL_MSG_PACKET in one datagram; raises on a netlink error."""
    ids: list[int] = []
    off = 0
    while off + 16 <= len(data):
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
        if length < 16:
            break
        if kind == NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, off + 16)
            if errno != 0:
                raise OSError(-errno, "nfnetlink_queue refused a request")
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = off + 20  # past nlmsghdr and nfgenmsg
            while a + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if (atype & 0x7FFF) == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from(">I", data, a + 4)[0])
                a += (alen + 3) & ~3
        off += (length + 3) & ~3
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    parser.add_argument("--loss", type=float, default=0.0, help="percent of packets dropped")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    cmd = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
    sock.send(message(NFQNL_MSG_CONFIG, args.queue, attr(NFQA_CFG_CMD, cmd), 1, NLM_F_REQUEST | NLM_F_ACK))
    packet_ids(sock.recv(65536))  # the ACK, or the error that says why not
    params = struct.pack(">IB", 0, NFQNL_COPY_META)
    sock.send(message(NFQNL_MSG_CONFIG, args.queue, attr(NFQA_CFG_PARAMS, params), 2, NLM_F_REQUEST | NLM_F_ACK))
    packet_ids(sock.recv(65536))

    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fleet-lab-netem: queue {args.queue}: delay {args.delay_ms} ms, loss {args.loss}%", file=sys.stderr, flush=True)

    delay = args.delay_ms / 1000.0
    pending: collections.deque[tuple[float, int]] = collections.deque()
    seq = 3

    def verdict(packet_id: int, what: int) -> None:
        nonlocal seq
        seq += 1
        sock.send(message(NFQNL_MSG_VERDICT, args.queue, attr(NFQA_VERDICT_HDR, struct.pack(">II", what, packet_id)), seq))

    while running:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            verdict(pending.popleft()[1], NF_ACCEPT)
        timeout = max(0.0, pending[0][0] - now) if pending else 0.5
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        try:
            data = sock.recv(1 << 16)
        except OSError as err:
            # ENOBUFS: the kernel dropped queued packets for us; TCP resends them.
            print(f"fleet-lab-netem: {err}", file=sys.stderr, flush=True)
            continue
        arrived = time.monotonic()
        for packet_id in packet_ids(data):
            if random.random() * 100.0 < args.loss:
                verdict(packet_id, NF_DROP)
            else:
                pending.append((arrived + delay, packet_id))
    # Whatever is still held goes out now rather than being lost.
    for _, packet_id in pending:
        verdict(packet_id, NF_ACCEPT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
