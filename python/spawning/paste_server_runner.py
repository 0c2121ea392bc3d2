"""``use = egg:Spawning`` in a Paste ini's ``[server:main]``: ``pserve development.ini`` runs spawning.

PasteDeploy calls ``server_runner(app, global_conf, **local_conf)`` with the
app it loaded in this process. spawning runs the app in worker processes of
its own, so the runner replaces this process (same pid, so pserve's signals
and pidfile still apply) with the spawning server for the same ini, through
``spawning.paste_factory``. ``host``, ``port``, ``num_processes`` and
``threadpool_workers`` are read from the ini by that factory; any other key
of ``[server:main]`` names a spawning flag (``max_memory = 512M`` is
``--max-memory=512M``, ``reload = dev`` is ``--reload=dev``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

# Read by spawning.paste_factory itself; "use" is PasteDeploy's.
_HANDLED = {"use", "host", "port", "num_processes", "threadpool_workers"}
_INTERNAL = {"here", "__file__"}


def spawning_command() -> list[str]:
    """$SPAWNING_BIN, else ``spawning`` on PATH, else this checkout's bin/spawning.js (an editable install)."""
    given = os.environ.get("SPAWNING_BIN")
    checkout = Path(__file__).resolve().parents[2] / "bin" / "spawning.js"
    for candidate in (given, shutil.which("spawning"), str(checkout) if checkout.is_file() else None):
        if not candidate:
            continue
        if candidate.endswith(".js"):
            node = shutil.which("node")
            if node:
                return [node, candidate]
            continue
        return [candidate]
    _fail("cannot find the spawning command: install it (npm install -g spawning) or set SPAWNING_BIN")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"spawning: error: {message} [SPAWNING_ERR_CONFIG]\n")
    sys.exit(2)


def command_line(global_conf: dict[str, Any], local_conf: dict[str, Any]) -> list[str]:
    ini = global_conf.get("__file__")
    if not ini:
        _fail("egg:Spawning needs to be loaded from an ini file (pserve development.ini)")
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in local_conf.items() if key not in _HANDLED]
    overrides = [f"{key}={value}" for key, value in global_conf.items() if key not in _INTERNAL]
    return [
        *spawning_command(),
        "--factory=spawning.paste_factory.config_factory",
        f"--python={sys.executable}",
        *flags,
        "--",
        str(ini),
        *overrides,
    ]


def server_runner(wsgi_app: Any, global_conf: dict[str, Any], **local_conf: Any) -> NoReturn:
    argv = command_line(global_conf, local_conf)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
