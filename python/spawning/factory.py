"""The factory contract, as in the original Spawning.

``--factory=dotted.config_factory`` names a callable that takes the server's
arguments (a dict) and returns a config dict naming an ``app_factory``; the
worker imports that and calls it with the config to get the WSGI app. The
controller runs the same ``config_factory`` once before binding
(``spawning.config_probe``) to learn the server settings a config may carry
(a Paste ini's ``[server:main]``) and the files to watch.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from typing import Any

from .loader import LoadError, ensure_cwd_importable, import_object
from .options import option

# Settings a config may set, under the names the original Spawning used, and
# the controller's names for them.
SERVER_KEYS = {"host": "host", "port": "port", "num_processes": "processes", "threadpool_workers": "threads"}


def factory_args(options: dict[str, Any]) -> dict[str, Any]:
    """The arguments a config_factory receives: the options plus the historic names."""
    args = dict(options)
    args.setdefault("num_processes", option(options, "processes", int))
    args.setdefault("threadpool_workers", option(options, "threads", int))
    return args


def require_package(module: str, package: str, purpose: str) -> None:
    """Raises a one-line 'python-packages' error naming what to install."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise LoadError("python-packages", f"{purpose} needs the '{package}' package, which {sys.executable} lacks (pip install {package})")


def resolve_config(options: dict[str, Any]) -> dict[str, Any]:
    """Runs the named config_factory. Raises LoadError, or OptionsError before anything runs."""
    factory_name = option(options, "factory", str)
    args = factory_args(options)
    ensure_cwd_importable()
    try:
        factory = import_object(factory_name)
    except LoadError as exc:
        raise LoadError("factory-error", f"factory '{factory_name}': {exc.message}", exc.where, exc.traceback) from None
    if not callable(factory):
        raise LoadError("factory-error", f"factory '{factory_name}' is a {type(factory).__name__}, not callable")
    try:
        config = factory(args)
    except LoadError:
        raise
    except Exception as exc:
        message = f"factory '{factory_name}' raised {type(exc).__name__}: {exc}".splitlines()[0]
        raise LoadError("factory-error", message, "", traceback.format_exc()) from None
    if not isinstance(config, dict) or not isinstance(config.get("app_factory"), str):
        raise LoadError("factory-error", f"factory '{factory_name}' did not return a config dict naming an 'app_factory'")
    return config


def load_app(options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Factory → config → app_factory → app. Raises LoadError."""
    config = resolve_config(options)
    app_factory_name: str = config["app_factory"]
    try:
        app_factory = import_object(app_factory_name)
    except LoadError as exc:
        if exc.kind in ("module-not-found", "attribute-missing", "bad-name"):
            raise LoadError("factory-error", f"app_factory '{app_factory_name}': {exc.message}", exc.where, exc.traceback) from None
        raise
    app = app_factory(config)
    if not callable(app):
        raise LoadError("not-callable", f"app_factory '{app_factory_name}' returned a {type(app).__name__}, not a WSGI callable")
    return app, config
