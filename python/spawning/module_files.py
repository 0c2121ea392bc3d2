"""The source files of every imported module, for --reload=dev.

The standard library is left out: it does not change under a running app,
and watching it would cost thousands of watches for nothing.

Each file is reported with the identity (inode, size, mtime in ns) it had
when the import read it. The report reaches the controller's watcher up to a
second later, so an edit saved in between would otherwise become the
watcher's starting point and be missed: with the identity at import, the
watcher sees that the file on disk is no longer the code this worker runs.
"""

from __future__ import annotations

import importlib.machinery
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

# Source path as the loader saw it (a module's __file__) -> "ino:size:mtime_ns" when it was imported.
_loaded: dict[str, str] = {}

# [realpath, identity at import, or None when the import was not seen]
ModuleFile = list[str | None]


def identity(st: os.stat_result) -> str:
    """The same string the watcher builds from its own stat (src/actors/file-watcher.ts)."""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def record_imports() -> None:
    """From now on, note each source file's identity as the import system stats it.

    SourceLoader.get_code calls path_stats once per source import, to check the
    cached bytecode against the source; that stat is what the import used.
    """

    def path_stats(self: importlib.machinery.SourceFileLoader, path: str) -> dict[str, float | int]:
        st = os.stat(path)
        _loaded[path] = identity(st)
        return {"mtime": st.st_mtime, "size": st.st_size}

    importlib.machinery.SourceFileLoader.path_stats = path_stats  # type: ignore[method-assign]


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


def module_files() -> dict[str, str | None]:
    """Each imported module's source file, with its identity at import when it was recorded."""
    files: dict[str, str | None] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            src = _source(path)
            if src:
                files[src] = files.get(src) or _loaded.get(path)
    return files


def report_modules(send: Callable[[list[ModuleFile]], None], interval: float = 1.0) -> None:
    """Sends the current files now, then any newly imported ones (lazy imports) as they appear."""
    known = module_files()
    send([[f, known[f]] for f in sorted(known)])

    def poll() -> None:
        count = len(sys.modules)
        while True:
            time.sleep(interval)
            if len(sys.modules) == count:
                continue
            count = len(sys.modules)
            new = {f: loaded for f, loaded in module_files().items() if f not in known}
            if new:
                known.update(new)
                send([[f, new[f]] for f in sorted(new)])

    threading.Thread(target=poll, name="spawning-modules", daemon=True).start()
