"""The options the controller sends (``--options-json``) to a worker or the config probe.

The controller sends every option, each at its flag's value or the flag's
default: one settings table (src/config/settings.ts) decides both, so Python
keeps no defaults of its own. A missing option is the controller's bug,
reported by name instead of silently replaced by a second default.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

T = TypeVar("T")


class OptionsError(ValueError):
    """The options are not what the controller sends."""


def parse_options(text: str) -> dict[str, Any]:
    """The JSON object of ``--options-json``. Raises ValueError."""
    options = json.loads(text)
    if not isinstance(options, dict):
        raise OptionsError("not a JSON object")
    return options


def option(options: dict[str, Any], key: str, kind: type[T]) -> T:
    """``options[key]``, which must be a ``kind``. Raises OptionsError."""
    value = _sent(options, key)
    # bool is an int to isinstance, and true is no thread count.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise OptionsError(f"option '{key}' is {value!r}, expected {kind.__name__}")
    return value


def optional(options: dict[str, Any], key: str, kind: type[T]) -> T | None:
    """``options[key]``, which must be a ``kind`` or null. Raises OptionsError."""
    return None if _sent(options, key) is None else option(options, key, kind)


def _sent(options: dict[str, Any], key: str) -> Any:
    try:
        return options[key]
    except KeyError:
        raise OptionsError(f"no option '{key}' (the controller sends every option)") from None
