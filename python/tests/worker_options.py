"""The options the controller sends a worker, for the tests and the benchmarks.

Taken from the settings table itself (``node dist/src/config/process-config.js``
prints them with every flag at its default), so no second list of options or
defaults can drift from what the controller sends.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
_PRINTER = REPO_ROOT / "dist" / "src" / "config" / "process-config.js"


@functools.lru_cache(maxsize=None)
def _defaults() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not _PRINTER.is_file():
        raise RuntimeError(f"the worker's options come from {_PRINTER.relative_to(REPO_ROOT)}: build it first (scripts/bootstrap, or npx tsc -p .)")
    out = subprocess.run([node, str(_PRINTER)], capture_output=True, text=True, check=True, timeout=30)
    options: dict[str, Any] = json.loads(out.stdout)
    return options


def worker_options(**overrides: Any) -> dict[str, Any]:
    """Every option the controller sends, at its default unless overridden; an option it does not send is an error."""
    options = copy.deepcopy(_defaults())
    unsent = sorted(set(overrides) - set(options))
    if unsent:
        raise KeyError(f"the controller sends no option {', '.join(unsent)} (src/config/settings.ts tags what it sends)")
    options.update(overrides)
    return options
