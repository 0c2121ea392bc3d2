"""``--factory=spawning.paste_factory.config_factory development.ini [key=value ...]``.

The app comes from PasteDeploy's ``loadapp``; ``key=value`` arguments go into
its ``global_conf``. The ini's ``[server:main]`` ``host``, ``port``,
``num_processes`` and ``threadpool_workers`` become the server's settings
unless the same option is given on the command line (the controller decides
that), and the ini file is watched under ``--reload=dev``.
"""

from __future__ import annotations

import configparser
import os
import traceback
from typing import Any

from .factory import require_package
from .loader import LoadError, _one_line, _where
from .options import option

USAGE = "spawning --factory=spawning.paste_factory.config_factory development.ini [key=value ...]"
# [server:main] keys and how to read them.
_SERVER_INTS = ("port", "num_processes", "threadpool_workers")


def _config_error(ini: str, message: str) -> LoadError:
    return LoadError("config", f"Paste ini {ini}: {message}", ini)


def _global_conf(pairs: list[str]) -> dict[str, str]:
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LoadError("config", f"Paste factory argument '{pair}' is not key=value (usage: {USAGE})")
        conf[key.strip()] = value
    return conf


def _server_settings(loader: Any, ini: str) -> dict[str, Any]:
    """The [server:main] settings spawning understands; other keys belong to other servers."""
    from paste.deploy.loadwsgi import SERVER

    try:
        section = loader.find_config_section(SERVER, name="main")
    except LookupError:
        return {}
    parser = loader.parser
    defaults = parser.defaults()
    settings: dict[str, Any] = {}
    for key in ("host", *_SERVER_INTS):
        if key in defaults or not parser.has_option(section, key):
            continue
        value = parser.get(section, key).strip()
        if key in _SERVER_INTS:
            try:
                settings[key] = int(value)
            except ValueError:
                raise _config_error(ini, f"[{section}] {key} = {value!r} is not a whole number") from None
        else:
            settings[key] = value
    return settings


def config_factory(args: dict[str, Any]) -> dict[str, Any]:
    require_package("paste.deploy", "PasteDeploy", "the Paste factory")
    from paste.deploy.loadwsgi import APP, ConfigLoader

    positional = list(option(args, "args", list))
    if not positional:
        raise LoadError("config", f"the Paste factory needs an ini file: {USAGE}")
    path, _, name = positional[0].partition("#")
    ini = os.path.abspath(path)
    if not os.path.isfile(ini):
        raise LoadError("config", f"Paste ini {path}: no such file")
    global_conf = _global_conf(positional[1:])
    try:
        loader = ConfigLoader(ini)
        loader.update_defaults(global_conf, overwrite=False)
        loader.find_config_section(APP, name=name or "main")
        server = _server_settings(loader, ini)
    except LookupError as exc:
        raise _config_error(ini, str(exc).split(" found in config ")[0]) from None
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        raise _config_error(ini, _one_line(exc)) from None

    config = dict(args)
    config.update(server)
    config.update(
        app_factory="spawning.paste_factory.app_factory",
        app=positional[0],
        config_url=f"config:{ini}",
        app_name=name or "main",
        relative_to=os.path.dirname(ini),
        global_conf=global_conf,
        watch=[ini],
    )
    return config


def app_factory(config: dict[str, Any]) -> Any:
    from paste.deploy import loadapp

    ini = config["config_url"][len("config:") :]
    try:
        return loadapp(config["config_url"], name=config.get("app_name") or "main", global_conf=dict(config.get("global_conf") or {}))
    except LookupError as exc:  # a pipeline naming a missing filter, an unknown egg entry point
        raise LoadError("config", f"Paste ini {ini}: {_one_line(exc)}", ini, traceback.format_exc()) from None
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError("import-raised", f"loading {ini} raised {_one_line(exc)}", _where(exc.__traceback__), traceback.format_exc()) from None
