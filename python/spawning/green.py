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
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from typing import Any, Callable, NoReturn

LIBRARIES = ("gevent", "eventlet")


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``name VALUE`` or ``name=VALUE``: the worker's argparse runs only after the patch."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


def _options_from_argv(argv: list[str]) -> dict[str, Any]:
    try:
        options = json.loads(_flag(argv, "--options-json") or "{}")
    except ValueError:
        return {}  # the worker's own checks report it
    return options if isinstance(options, dict) else {}


def library_of(options: dict[str, Any]) -> str | None:
    """The green library the options ask for; None for OS threads."""
    if options.get("threads") != 0:
        return None
    return str(options.get("green") or "gevent")


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
    options = _options_from_argv(argv)
    library = library_of(options)
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

    def submit(self, item: Any) -> None:
        if self._waiting or self._free() <= 0:
            self._waiting.append(item)
        else:
            self._spawn(self._task, item)

    def _task(self, item: Any) -> None:
        # The greenlet takes the next waiting item itself: the pool's bound holds, and no spawn can block.
        waiting = self._waiting
        while True:
            self._run(item)
            if not waiting:
                return
            item = waiting.popleft()
