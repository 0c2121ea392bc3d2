"""The source files of every imported module, for --reload=dev.

The standard library is left out: it does not change under a running app,
and watching it would cost thousands of watches for nothing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
import threading
import time
from typing import Callable

_STDLIB = tuple(
    os.path.realpath(p) + os.sep for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]} if p
)


def _source(path: str) -> str | None:
    if path.endswith(".pyc"):
        try:
            path = importlib.util.source_from_cache(path)
        except ValueError:
            return None
    path = os.path.realpath(path)
    if path.startswith(_STDLIB) and "site-packages" not in path:
        return None
    return path if os.path.isfile(path) else None


def module_files() -> set[str]:
    files: set[str] = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            src = _source(path)
            if src:
                files.add(src)
    return files


def report_modules(send: Callable[[list[str]], None], interval: float = 1.0) -> None:
    """Sends the current files now, then any newly imported ones (lazy imports) as they appear."""
    known = module_files()
    send(sorted(known))

    def poll() -> None:
        nonlocal known
        count = len(sys.modules)
        while True:
            time.sleep(interval)
            if len(sys.modules) == count:
                continue
            count = len(sys.modules)
            current = module_files()
            new = current - known
            if new:
                known |= new
                send(sorted(new))

    threading.Thread(target=poll, name="spawning-modules", daemon=True).start()
