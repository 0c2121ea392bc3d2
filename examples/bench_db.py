"""The sqlite database both real-app bench scenarios read: 1,000 rows, made once.

Every server's processes import this at start, several at once: the table and
rows are created idempotently, and sqlite's own locking (with a busy timeout)
serialises the writers.
"""

import os
import sqlite3
import tempfile
import threading

PATH = os.environ.get("BENCH_DB") or os.path.join(tempfile.gettempdir(), "spawning-bench.sqlite3")
ROWS = 1000


def _create() -> None:
    conn = sqlite3.connect(PATH, timeout=30)
    try:
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL)")
            conn.executemany("INSERT OR IGNORE INTO items VALUES (?, ?, ?)", [(i, f"item {i}", i * 1.5) for i in range(ROWS)])
    finally:
        conn.close()


_create()
_local = threading.local()


def connection() -> sqlite3.Connection:
    """One connection per thread: sqlite3 connections are not shared across threads."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(PATH, timeout=30)
    return conn
