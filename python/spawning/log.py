"""The worker's own log lines: stderr, prefixed so they stand out from the app's output."""

from __future__ import annotations

import os
import sys


def log(message: str) -> None:
    sys.stderr.write(f"[spawning worker {os.getpid()}] {message}\n")
    sys.stderr.flush()
