"""``--coverage``: coverage.py in every worker, and the combined report the child serves at /_coverage.

Each worker measures in parallel mode into the controller's data directory
(one data file per worker, saved every second and at exit); the report is made
in a separate process (``python -m spawning.coverage_support DATA_DIR OUT_DIR
html|json``) that combines those files without removing them, so serving it
never holds up a worker.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from .factory import require_package

_SAVE_EVERY = 1.0
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_coverage: Any = None
_lock = threading.Lock()


def start(data_dir: str) -> None:
    """Starts measuring now (before the app is imported, so its module-level code counts)."""
    global _coverage
    require_package("coverage", "coverage", "--coverage")
    import coverage

    cov = coverage.Coverage(data_file=os.path.join(data_dir, ".coverage"), data_suffix=True, omit=[os.path.join(_PACKAGE_DIR, "*")])
    cov.start()
    _coverage = cov

    def keep_saving() -> None:
        while True:
            time.sleep(_SAVE_EVERY)
            save()

    threading.Thread(target=keep_saving, name="spawning-coverage", daemon=True).start()


def save() -> None:
    """Writes what was measured so far; a no-op without --coverage."""
    if _coverage is None:
        return
    with _lock:
        try:
            _coverage.save()
        except Exception as exc:  # a failed save must not cost a request or the exit
            sys.stderr.write(f"[spawning worker {os.getpid()}] saving coverage data failed: {type(exc).__name__}: {exc}\n")


def report(data_dir: str, out_dir: str, kind: str) -> int:
    """Combines the workers' data (keeping it) and writes index.html or coverage.json into out_dir."""
    import coverage
    from coverage.exceptions import NoDataError

    os.makedirs(out_dir, exist_ok=True)
    combined = os.path.join(out_dir, ".coverage")
    if os.path.exists(combined):
        os.unlink(combined)
    cov = coverage.Coverage(data_file=combined)
    try:
        cov.combine(data_paths=[data_dir], keep=True)
        cov.load()
        if kind == "json":
            cov.json_report(outfile=os.path.join(out_dir, "coverage.json"))
        else:
            cov.html_report(directory=out_dir, title="spawning --coverage")
    except NoDataError as exc:
        sys.stderr.write(f"no coverage data yet: {exc}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(report(sys.argv[1], sys.argv[2], sys.argv[3]))
