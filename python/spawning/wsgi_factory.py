"""The default factory: ``module.app`` wrapped in middleware, as in the original Spawning.

A factory is a callable taking the server's options (a dict) and returning a
config dict that names an ``app_factory``; the worker imports that and calls it
with the config to get the WSGI application.
"""

from __future__ import annotations

from typing import Any

from .loader import LoadError, import_object
from .options import option


def config_factory(args: dict[str, Any]) -> dict[str, Any]:
    positional = list(option(args, "args", list))
    if not positional:
        raise LoadError("config", "no WSGI application given (expected module.attribute)")
    config = dict(args)
    config["app_factory"] = "spawning.wsgi_factory.app_factory"
    config["app"] = positional[0]
    config["middleware"] = positional[1:]
    return config


def app_factory(config: dict[str, Any]) -> Any:
    app = import_object(config["app"])
    if not callable(app):
        raise LoadError("not-callable", f"'{config['app']}' is a {type(app).__name__}, not a WSGI callable")
    for name in config.get("middleware", []):
        middleware = import_object(name)
        if not callable(middleware):
            raise LoadError("not-callable", f"middleware '{name}' is a {type(middleware).__name__}, not callable")
        app = middleware(app)
    return app
