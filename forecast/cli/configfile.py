"""`--config FILE` (train, detect, evaluate, compare): a TOML file's options become the command's
defaults, each checked for its TOML type and converted exactly as the command line would convert
it. One file serves all four: each takes the options it has and passes over the others'."""

from __future__ import annotations

import logging
from typing import Annotated, Optional

import typer

from forecast.cli import logs
from forecast.errors import ForecastError


def load_config_file(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """Make a --config file's options the defaults of this command (the command line still wins)."""
    if value:
        from forecast.settings import read_config

        params = {p.name: p for p in ctx.command.params if p.name not in IGNORED}
        try:
            options = read_config(value, set(params), command=ctx.info_name or "train", shared=_shared_options(ctx))
            kinds = option_kinds(ctx.command)
            for name, setting in options.items():
                check_config_type(value, name, setting, kinds[name])
                try:
                    params[name].process_value(ctx, setting)  # converts and checks it as the command line would
                except Exception as exc:  # click.BadParameter and friends; say it in one line
                    message = (getattr(exc, "message", None) or str(exc)).splitlines()[0].rstrip(".")
                    raise ForecastError(
                        f"--config {value!r} sets {name.replace('_', '-')} = {toml_text(setting)}: {message}. "
                        "Fix the value in the file."
                    ) from None
        except ForecastError as exc:
            logging.getLogger(logs.LOGGER).error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


IGNORED = ("config", "print_config")  # options about the file itself


def _shared_options(ctx: typer.Context) -> set[str]:
    """The options of every command of the app that reads a --config file."""
    group = ctx.parent.command if ctx.parent is not None else None
    commands = getattr(group, "commands", {}).values() if group is not None else ()
    return {p.name for command in commands if any(p.name == "config" for p in command.params)
            for p in command.params if p.name not in IGNORED}


def check_config_type(path: str, name: str, setting, kind: type) -> None:
    """Refuse a --config value of the wrong TOML type, which the command line's conversion would
    otherwise accept (true as 1, 5 as "5", "0.5" as 0.5, "yes" as true).

    Args:
        kind: the option's Python type: bool, int, float, str or an Enum of strings.
    """
    if kind is bool:
        wanted, ok = "true or false", isinstance(setting, bool)
    elif kind is int:
        wanted, ok = "a whole number", isinstance(setting, int) and not isinstance(setting, bool)
    elif kind is float:
        wanted, ok = "a number", isinstance(setting, (int, float)) and not isinstance(setting, bool)
    else:  # text, paths and choices
        wanted, ok = "a quoted string", isinstance(setting, str)
    if not ok:
        got = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string"}.get(type(setting), type(setting).__name__)
        raise ForecastError(
            f"--config {path!r} sets {name.replace('_', '-')} = {toml_text(setting)}: expected {wanted}, got {got}. "
            "Fix the value in the file."
        )


def option_kinds(command) -> dict[str, type]:
    """Each parameter's Python type, from the command's annotations: Optional[int] -> int."""
    import inspect
    import typing

    kinds = {}
    for name, parameter in inspect.signature(command.callback).parameters.items():
        hint = parameter.annotation
        if typing.get_origin(hint) is Annotated:
            hint = typing.get_args(hint)[0]
        present = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        kinds[name] = present[0] if present else hint
    return kinds


def toml_text(value) -> str:
    """A value as TOML writes it, for messages."""
    from forecast.settings import to_toml

    return to_toml({"v": value}).split(" = ", 1)[1].strip()
