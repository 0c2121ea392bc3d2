"""``python -m spawning.config_probe --options-json JSON``: the factory's config, before binding.

The controller runs this once, before it binds the socket, so that settings a
factory's config carries (a Paste ini's ``[server:main]`` host, port,
num_processes, threadpool_workers) decide the address and the number of
processes, and so that a bad factory argument (a missing ini, a wrong Django
settings module) or a missing package is reported before anything starts.

Prints one JSON object on stdout and exits 0:
``{"ok": true, "server": {...}, "watch": [...]}`` or
``{"ok": false, "error": {"kind", "message", "where", "traceback"}}``.
The factory's own output goes to stderr, so it cannot corrupt the answer.
With ``--load-app`` (``spawning --check-config``) it also imports the app
through the factory, as a worker would, and reports its load errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .factory import SERVER_KEYS, load_app, require_package, resolve_config
from .loader import LoadError
from .options import OptionsError, option, parse_options


def probe(options: dict[str, Any], with_app: bool = False) -> dict[str, Any]:
    require_package("msgpack", "msgpack", "the spawning worker")
    if option(options, "coverage", bool):
        require_package("coverage", "coverage", "--coverage")
    config = load_app(options)[1] if with_app else resolve_config(options)
    server = {ours: config[theirs] for theirs, ours in SERVER_KEYS.items() if config.get(theirs) is not None}
    watch = config.get("watch") or []
    if not isinstance(watch, (list, tuple)):
        watch = [watch]
    return {"ok": True, "server": server, "watch": [os.path.abspath(str(f)) for f in watch]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spawning.config_probe")
    parser.add_argument("--options-json", required=True)
    parser.add_argument("--load-app", action="store_true", help="also import the app through the factory")
    args = parser.parse_args(argv)
    # Whatever the factory prints goes to stderr; stdout carries only the answer.
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        result = probe(parse_options(args.options_json), with_app=args.load_app)
    except LoadError as exc:
        result = {"ok": False, "error": exc.as_dict()}
    except OptionsError as exc:
        result = {"ok": False, "error": LoadError("config", f"invalid --options-json: {exc}").as_dict()}
    except BaseException as exc:  # a factory may raise anything, SystemExit included
        import traceback

        message = f"the config factory raised {type(exc).__name__}: {exc}".splitlines()[0]
        result = {"ok": False, "error": LoadError("factory-error", message, "", traceback.format_exc()).as_dict()}
    answer.write(json.dumps(result, default=str) + "\n")
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
