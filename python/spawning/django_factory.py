"""``--factory=spawning.django_factory.config_factory mysite.settings``.

Serves a Django project through ``get_wsgi_application()`` with
``DJANGO_SETTINGS_MODULE`` set. The settings module is checked before the
server binds (without running it); under ``--reload=dev`` it is watched, and
so is every module Django imports at setup (the apps, the URLconf and views).
"""

from __future__ import annotations

import importlib.util
import os
import re
import traceback
from typing import Any

from .factory import require_package
from .loader import LoadError, _one_line, _where, ensure_cwd_importable
from .options import option

USAGE = "spawning --factory=spawning.django_factory.config_factory mysite.settings"
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _settings_file(module: str) -> str:
    """The settings module's source file; raises a one-line LoadError when it cannot be found."""
    ensure_cwd_importable()
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError as exc:  # a parent package is missing
        spec = None
        missing = f"No module named '{exc.name}'"
    except Exception as exc:  # a parent package's __init__ raised
        raise LoadError("import-raised", f"finding settings module '{module}' raised {_one_line(exc)}", _where(exc.__traceback__), traceback.format_exc()) from None
    else:
        missing = f"No module named '{module}'"
    if spec is None or not spec.origin:
        raise LoadError("module-not-found", f"Django settings module '{module}' not found ({missing}; run from the project directory)")
    return os.path.abspath(spec.origin)


def config_factory(args: dict[str, Any]) -> dict[str, Any]:
    require_package("django", "Django", "the Django factory")
    positional = list(option(args, "args", list))
    if len(positional) != 1:
        raise LoadError("config", f"the Django factory takes one argument, the settings module: {USAGE}")
    settings = positional[0]
    if not _DOTTED.match(settings):
        raise LoadError("config", f"'{settings}' is not a Django settings module name like mysite.settings")
    config = dict(args)
    config.update(
        app_factory="spawning.django_factory.app_factory",
        app=settings,
        django_settings_module=settings,
        watch=[_settings_file(settings)],
    )
    return config


def app_factory(config: dict[str, Any]) -> Any:
    os.environ["DJANGO_SETTINGS_MODULE"] = config["django_settings_module"]
    from django.core.wsgi import get_wsgi_application

    try:
        app = get_wsgi_application()
        # Django imports the URLconf (and so the views) on the first request; importing it now
        # makes a broken urls.py or view a load error, which a reload survives on the old code,
        # and puts those files under --reload=dev's watch from the start.
        from django.urls import get_resolver

        get_resolver().url_patterns
        return app
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else _where(exc.__traceback__)
        raise LoadError("syntax-error", f"SyntaxError: {exc.msg}", where, traceback.format_exc()) from None
    except Exception as exc:  # ImproperlyConfigured, an app that fails to import…
        raise LoadError("import-raised", f"Django setup raised {_one_line(exc)}", _where(exc.__traceback__), traceback.format_exc()) from None
