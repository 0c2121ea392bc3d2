"""Green threads (``--threads=0``): gevent or eventlet, for COMET apps.

One worker process holds thousands of requests that wait on an event or on
network I/O, each in its own greenlet. The library is patched into the
standard library before anything imports ``socket`` or ``threading`` (so the
worker's channel, locks and conditions, and the app's own I/O, all cooperate
with the hub); ``patch_for_argv`` runs at the very top of ``python -m
spawning.worker``, before its own imports.

The child sends no more requests than ``--max-green`` at once; ``GreenRunner``
still never blocks the reader greenlet when a timed-out request keeps its
greenlet busy past that: the extra request waits here until a greenlet is free.

A request whose client left (ABORT) has ``GreenletExit`` thrown into its
greenlet: a long poll waiting on an event or a sleep gives its greenlet back at
once instead of when its wait would have ended. Throwing is safe because a
request greenlet never writes to the channel itself (sends only queue; the hub
flushes), so the exception can only land in the app's wait or in a flow-control
wait of ours.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from typing import Any, Callable, NoReturn

from .options import option, parse_options

LIBRARIES = ("gevent", "eventlet")


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``name VALUE`` or ``name=VALUE``: the worker's argparse runs only after the patch."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


def library_of(options: dict[str, Any]) -> str | None:
    """The green library the options ask for; None for OS threads. Raises OptionsError."""
    if option(options, "threads", int) != 0:
        return None
    return option(options, "green", str)


def patch(library: str) -> None:
    """Monkey-patches the standard library. Raises ImportError when the library is missing."""
    if library == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif library == "eventlet":
        import warnings

        with warnings.catch_warnings():
            # eventlet warns on import that it is in maintenance mode; it still works.
            warnings.simplefilter("ignore")
            import eventlet

        eventlet.monkey_patch()
    else:
        raise ValueError(f"unknown green library {library!r} (expected one of {', '.join(LIBRARIES)})")


def patch_for_argv(argv: list[str]) -> None:
    """At worker start-up: patch when the options ask for green threads; a missing library ends the worker (exit 4)."""
    try:
        library = library_of(parse_options(_flag(argv, "--options-json") or ""))
    except ValueError:
        return  # the worker's own checks report it
    if library is None or library not in LIBRARIES:
        return  # OS threads, or a bad name the worker's own checks report
    try:
        patch(library)
    except ImportError as exc:
        fd = _flag(argv, "--channel-fd") or "3"
        _missing(library, exc, int(fd) if fd.isdigit() else 3)


def _missing(library: str, exc: ImportError, fd: int) -> NoReturn:
    from . import exit_codes, tags
    from .bare_frame import send_raw_load_error

    message = f"--threads=0 needs the '{library}' package, which interpreter {sys.executable} lacks (pip install {library}): {exc}"
    send_raw_load_error(fd, {"kind": "python-packages", "message": message, "where": "", "traceback": ""}, tags.LOAD_ERROR)
    os._exit(exit_codes.ENV_ERROR)


def next_turn(library: str) -> Callable[[Callable[[], None]], None]:
    """Schedules a callback for the hub's next loop iteration, outside any greenlet's turn."""
    if library == "gevent":
        from gevent import get_hub

        loop = get_hub().loop
        return lambda callback: loop.run_callback(callback)
    from eventlet.hubs import get_hub as get_eventlet_hub

    hub = get_eventlet_hub()
    return lambda callback: hub.schedule_call_global(0, callback)


class GreenRunner:
    """Runs each request in its own greenlet from a pool of ``size``; never blocks the caller."""

    def __init__(self, library: str, size: int, run: Callable[[Any], None]) -> None:
        if library == "gevent":
            from gevent.pool import Pool

            pool = Pool(size)
            self._free: Callable[[], int] = pool.free_count
            self._spawn: Callable[..., Any] = pool.spawn
        else:
            from eventlet.greenpool import GreenPool

            green_pool = GreenPool(size)
            self._free = green_pool.free
            self._spawn = green_pool.spawn_n
        self._run = run
        self._waiting: deque[Any] = deque()
        # The greenlet running each item, for interrupt().
        self._greenlets: dict[Any, Any] = {}
        self._later = next_turn(library)

    def submit(self, item: Any) -> None:
        if self._waiting or self._free() <= 0:
            self._waiting.append(item)
        else:
            self._spawn(self._task, item)

    def interrupt(self, item: Any) -> None:
        """Throws GreenletExit into the greenlet running ``item``, on the hub's next turn (an item still waiting is left alone)."""
        glet = self._greenlets.get(item)
        if glet is None:
            return
        from greenlet import GreenletExit

        def throw() -> None:
            # By now the greenlet may have finished this item and taken another: only this item is interrupted.
            if self._greenlets.get(item) is glet:
                glet.throw(GreenletExit)

        self._later(throw)

    def _task(self, item: Any) -> None:
        # The greenlet takes the next waiting item itself: the pool's bound holds, and no spawn can block.
        from greenlet import getcurrent

        me = getcurrent()
        waiting = self._waiting
        greenlets = self._greenlets
        while True:
            greenlets[item] = me
            try:
                self._run(item)
            finally:
                del greenlets[item]
            if not waiting:
                return
            item = waiting.popleft()
