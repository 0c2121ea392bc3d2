"""An example middleware: adds ``X-Response-Time`` (seconds spent in the app).

``spawning hello.app timing.timing_middleware``: spawning calls each middleware
with the application it wraps and serves what it returns; the last middleware
listed is the outermost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def timing_middleware(app: WSGIApp) -> WSGIApp:
    def timed(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()

        # Headers are sent when start_response is called, so the time measured
        # is up to that moment: the app's work before its first byte.
        def timed_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            elapsed = time.perf_counter() - started
            return start_response(status, [*headers, ("X-Response-Time", f"{elapsed:.6f}")], exc_info)

        return app(environ, timed_start_response)

    return timed
