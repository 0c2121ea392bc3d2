"""The config probe and the built-in factories' config step, run as the controller runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from worker_options import worker_options

PYTHON_DIR = Path(__file__).resolve().parent.parent


def probe(options: dict[str, Any], cwd: Path, python: str = sys.executable) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-m", "spawning.config_probe", "--options-json", json.dumps(options)],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR)),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 1, out.stdout
    return json.loads(lines[0])


def write_ini(path: Path, server: str = "", defaults: str = "debug = true") -> Path:
    path.write_text(
        f"[DEFAULT]\n{defaults}\n\n"
        f"[server:main]\nuse = egg:waitress#main\nhost = 0.0.0.0\n{server}\n\n"
        "[app:main]\nuse = call:nowhere:factory\n"
    )
    return path


PASTE = "spawning.paste_factory.config_factory"
DJANGO = "spawning.django_factory.config_factory"


def test_default_factory_echoes_the_command_line(tmp_path: Path) -> None:
    answer = probe(worker_options(args=["mod.app"], host="1.2.3.4", port=80, processes=2, threads=3), tmp_path)
    assert answer == {"ok": True, "server": {"host": "1.2.3.4", "port": 80, "processes": 2, "threads": 3}, "watch": []}


def test_paste_server_main_settings_without_importing_the_server_or_the_app(tmp_path: Path) -> None:
    # egg:waitress is not installed and the app module does not exist: the probe needs neither.
    ini = write_ini(tmp_path / "dev.ini", "port = 9000\nnum_processes = 3\nthreadpool_workers = %(threads)s")
    answer = probe(worker_options(factory=PASTE, args=["dev.ini", "threads=5"], host="127.0.0.1", port=8080), tmp_path)
    assert answer == {"ok": True, "server": {"host": "0.0.0.0", "port": 9000, "processes": 3, "threads": 5}, "watch": [str(ini)]}


def test_paste_keys_from_default_are_not_server_settings(tmp_path: Path) -> None:
    """As in PasteDeploy: a key [DEFAULT] has is a global option, even where a section sets it too."""
    write_ini(tmp_path / "dev.ini", "port = 9000", defaults="port = 1234")
    options = worker_options(factory=PASTE, args=["dev.ini"], port=8080)
    answer = probe(options, tmp_path)
    # processes and threads: the controller's own, which the factory passes through.
    assert answer["server"] == {"host": "0.0.0.0", "port": 8080, "processes": options["processes"], "threads": options["threads"]}


def test_the_factorys_output_cannot_corrupt_the_answer(tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text(
        "print('hello from the factory')\n"
        "def config_factory(args):\n"
        "    print('configuring')\n"
        "    return {'app_factory': 'chatty.app', 'num_processes': 7, 'watch': 'chatty.py'}\n"
    )
    answer = probe(worker_options(factory="chatty.config_factory", args=[]), tmp_path)
    assert answer == {"ok": True, "server": {"processes": 7}, "watch": [str(tmp_path / "chatty.py")]}


@pytest.mark.parametrize(
    "factory,args,kind,message",
    [
        (PASTE, [], "config", "the Paste factory needs an ini file"),
        (PASTE, ["missing.ini"], "config", "Paste ini missing.ini: no such file"),
        (PASTE, ["dev.ini", "novalue"], "config", "Paste factory argument 'novalue' is not key=value"),
        (PASTE, ["dev.ini#other"], "config", "No section 'other'"),
        (PASTE, ["garbled.ini"], "config", "garbled.ini: MissingSectionHeaderError"),
        (DJANGO, [], "config", "the Django factory takes one argument"),
        (DJANGO, ["not a module"], "config", "is not a Django settings module name"),
        (DJANGO, ["nosuchsite.settings"], "module-not-found", "Django settings module 'nosuchsite.settings' not found (No module named 'nosuchsite'"),
        ("chatty.nothing", ["x"], "factory-error", "factory 'chatty.nothing'"),
    ],
)
def test_bad_factory_arguments_are_one_line(tmp_path: Path, factory: str, args: list[str], kind: str, message: str) -> None:
    write_ini(tmp_path / "dev.ini")
    (tmp_path / "garbled.ini").write_text("no section header\n")
    (tmp_path / "chatty.py").write_text("")
    answer = probe(worker_options(factory=factory, args=args), tmp_path)
    assert answer["ok"] is False
    error = answer["error"]
    assert error["kind"] == kind, error
    assert message in error["message"] and "\n" not in error["message"], error


@pytest.mark.parametrize(
    "factory,package",
    [(PASTE, "PasteDeploy"), (DJANGO, "Django")],
)
def test_a_missing_framework_names_the_package_to_install(tmp_path: Path, factory: str, package: str) -> None:
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    module, _, name = factory.rpartition(".")
    code = f"import json; from {module} import {name} as f\ntry:\n f({{'args': ['x']}})\nexcept Exception as e:\n print(json.dumps(e.as_dict()))"
    out = subprocess.run([python, "-c", code], env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR)), capture_output=True, text=True, check=True)
    error = json.loads(out.stdout)
    assert error["kind"] == "python-packages"
    assert error["message"].endswith(f"needs the '{package}' package, which {python} lacks (pip install {package})")
