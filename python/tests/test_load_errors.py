"""Every way loading the app can fail: one line, a stable kind, exit 3 (or 4)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "app,kind,message,where",
    [
        ("nowhere.app", "module-not-found", "No module named 'nowhere'", ""),
        ("basic.sub.deeper.app", "attribute-missing", "module 'basic' has no attribute 'sub'", "basic.py"),
        ("basic:missing", "attribute-missing", "module 'basic' has no attribute 'missing'", "basic.py"),
        ("basic.missing", "attribute-missing", "module 'basic' has no attribute 'missing'", "basic.py"),
        ("broken_syntax.app", "syntax-error", "SyntaxError", "broken_syntax.py:1"),
        ("raises_on_import.app", "import-raised", "ValueError: boom at import", "raises_on_import.py:1"),
        ("bad_import_inside.app", "import-error", "No module named 'module_that_does_not_exist'", "bad_import_inside.py:1"),
        ("middleware.not_callable", "not-callable", "not a WSGI callable", ""),
        ("no_dots", "bad-name", "'no_dots' is not a valid", ""),
        ("bad..name", "bad-name", "is not a valid", ""),
        ("mod:", "bad-name", "is not a valid 'module:attribute' name", ""),
        (["basic.hello", "middleware.not_callable"], "not-callable", "middleware 'middleware.not_callable'", ""),
        (["basic.hello", "nowhere.mw"], "module-not-found", "No module named 'nowhere'", ""),
    ],
)
def test_load_errors(worker_factory, app, kind, message, where):
    w = worker_factory(app)
    msg = w.recv()
    assert msg[0] == 17, msg
    err = msg[1]
    assert set(err) == {"kind", "message", "where", "traceback"}
    assert err["kind"] == kind, err
    assert message in err["message"] and "\n" not in err["message"], err
    assert err["where"].endswith(where) if where else True, err
    assert w.proc.wait(5) == 3


def test_import_error_points_at_the_user_file_and_carries_a_traceback(worker_factory):
    w = worker_factory("bad_import_inside.app")
    err = w.recv()[1]
    assert err["where"].endswith("apps/bad_import_inside.py:1")
    assert err["traceback"].startswith("Traceback") and "module_that_does_not_exist" in err["traceback"]


@pytest.mark.parametrize(
    "factory,message",
    [
        ("factories.raising_factory", "factory 'factories.raising_factory' raised RuntimeError: factory exploded"),
        ("factories.no_app_factory", "did not return a config dict naming an 'app_factory'"),
        ("nowhere.factory", "factory 'nowhere.factory': No module named 'nowhere'"),
    ],
)
def test_factory_errors(worker_factory, factory, message):
    w = worker_factory("basic.hello", factory=factory)
    msg = w.recv()
    assert msg[0] == 17 and msg[1]["kind"] == "factory-error" and message in msg[1]["message"], msg
    assert w.proc.wait(5) == 3


def test_missing_msgpack_in_a_bare_venv(tmp_path, worker_factory):
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    w = worker_factory("basic.hello", python=python)
    msg = w.recv()
    assert msg == [17, {"kind": "python-packages", "message": f"interpreter {python} lacks the 'msgpack' package (pip install msgpack)", "where": "", "traceback": ""}]
    assert w.proc.wait(5) == 4


def test_missing_msgpack_without_site_packages(worker_factory):
    """-S: no site-packages (so no msgpack), while PYTHONPATH still finds spawning."""
    w = worker_factory("basic.hello", python=sys.executable, python_flags=("-S",))
    msg = w.recv()
    assert msg[0] == 17 and msg[1]["kind"] == "python-packages" and "lacks the 'msgpack' package" in msg[1]["message"]
    assert w.proc.wait(5) == 4
