"""Importing the app by name, with errors that say what failed and where."""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from types import TracebackType
from typing import Any

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IMPORT_MACHINERY = ("<frozen importlib", os.path.dirname(__file__))


class LoadError(Exception):
    """The app cannot be loaded. ``kind`` is stable; ``message`` is one line."""

    def __init__(self, kind: str, message: str, where: str = "", tb: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.where = where
        self.traceback = tb

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message, "where": self.where, "traceback": self.traceback}


def _where(tb: TracebackType | None) -> str:
    """file:line of the innermost frame that is user code, not import machinery."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith(_IMPORT_MACHINERY)]
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename}:{last.lineno}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _missing_is_target(exc: ModuleNotFoundError, module: str) -> bool:
    """True when the module being imported (or a parent package) is what is missing."""
    name = exc.name or ""
    return module == name or module.startswith(name + ".")


def _import_module(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else _where(exc.__traceback__)
        raise LoadError("syntax-error", f"SyntaxError: {exc.msg}", where, traceback.format_exc()) from None
    except ModuleNotFoundError as exc:
        if _missing_is_target(exc, module):
            raise
        raise LoadError(
            "import-error", f"importing '{module}' failed: {_one_line(exc)}", _where(exc.__traceback__), traceback.format_exc()
        ) from None
    except BaseException as exc:  # the app's module-level code may raise anything, SystemExit included
        raise LoadError(
            "import-raised", f"importing '{module}' raised {_one_line(exc)}", _where(exc.__traceback__), traceback.format_exc()
        ) from None


def _get_attr(obj: Any, module: str, attrs: list[str]) -> Any:
    where = getattr(obj, "__file__", None) or ""
    path = f"module '{module}'"
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise LoadError("attribute-missing", f"{path} has no attribute '{attr}'", where, traceback.format_exc()) from None
        path = f"'{module}.{attr}'" if path.startswith("module") else f"{path[:-1]}.{attr}'"
    return obj


def import_object(name: str) -> Any:
    """Imports ``module.attr`` or ``module:attr`` (attr may itself be dotted)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        if not _DOTTED.match(module) or not _DOTTED.match(attr):
            raise LoadError("bad-name", f"'{name}' is not a valid 'module:attribute' name")
        try:
            obj = _import_module(module)
        except ModuleNotFoundError as exc:
            raise LoadError("module-not-found", f"No module named '{exc.name}'", "", traceback.format_exc()) from None
        return _get_attr(obj, module, attr.split("."))

    if not _DOTTED.match(name) or "." not in name:
        raise LoadError("bad-name", f"'{name}' is not a valid 'module.attribute' name")
    parts = name.split(".")
    first_missing: ModuleNotFoundError | None = None
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = _import_module(module)
        except ModuleNotFoundError as exc:
            first_missing = first_missing or exc
            continue
        return _get_attr(obj, module, parts[i:])
    assert first_missing is not None
    tb = "".join(traceback.format_exception(type(first_missing), first_missing, first_missing.__traceback__))
    raise LoadError("module-not-found", f"No module named '{first_missing.name}'", "", tb)


def ensure_cwd_importable() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
