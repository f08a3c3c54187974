"""The --config file: any `train` option in TOML, so that crontab lines stay short.

    # forecast.toml
    data = "prices.csv"
    model-dir = "/var/lib/forecast/model"
    horizon = 30
    features = ["Volume"]

Keys are the long option names, with dashes or underscores. The command line wins over the
file, and the file over the defaults. The resolved options are saved beside each version as
config.toml, in the same format, so a version can be retrained exactly.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from forecast.errors import ConfigError



def read_config(path: str, allowed: set[str], *, command: str = "train", shared: set[str] = frozenset()) -> dict:
    """The options in a TOML file that `command` has (`allowed`), keyed by parameter name
    (underscores). Options of the other commands that read the file (`shared`) are passed over,
    so that one file serves `train`, `detect`, `evaluate` and `compare`.

    Raises:
        ConfigError: the file is missing, not TOML, or names an option no such command has.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --config {path!r} ({exc.__class__.__name__}: {exc}). Check the path.") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path!r} is not valid TOML ({exc}). Fix the line it names.") from None
    options = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in shared and name not in allowed and not isinstance(value, dict):
            continue
        if name not in allowed or isinstance(value, dict):
            raise ConfigError(
                f"--config {path!r} sets {key!r}, which is not an option of `forecast {command}`. "
                "Use the long option names, e.g. horizon = 30 or model-dir = \"model\"; "
                f"`forecast {command} --help` lists them."
            )
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"--config {path!r} sets {key} to a list of non-strings. Quote each item, e.g. [\"Volume\"].")
            value = ",".join(value)  # list options are comma-separated on the command line
        options[name] = value
    return options


def to_toml(options: dict) -> str:
    """Flat options as TOML, None values left out (they mean the default)."""
    lines = []
    for name, value in options.items():
        if value is None:
            continue
        key = name.replace("_", "-")
        lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value) -> str:
    if hasattr(value, "value"):  # enums
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ('"nan"' if value != value else '"inf"')
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + "".join(map(_character, str(value))) + '"'


# A TOML basic string may not hold the quote, the backslash and the control characters U+0000 to
# U+001F and U+007F raw (TOML 1.0, "String"); any character may be escaped. Every character that is
# not printable is (C1 controls and line separators too, which editors and terminals act on), so a
# value with a line break stays on its option's line and reads back unchanged: the short escape
# where TOML has one, \uXXXX or \UXXXXXXXX otherwise.
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _character(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    if c.isprintable():
        return c
    return f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}"
