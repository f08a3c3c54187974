"""`forecast info` and `forecast models list|use|prune`: the model directory's versions."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from forecast.cli import logs
from forecast.cli.options import LockTimeout, ModelDir, OldVersion, Version, resolve_version
from forecast.cli.output import check_destinations
from forecast.cli.running import run_command
from forecast.errors import ForecastError, printable


def info(
    model_dir: ModelDir = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole metadata (metadata.json) instead of the summary.")] = False,
    model_version: Version = None,
    old_version: OldVersion = None,
) -> None:
    """Describe the current model (or --model-version): data, frequency, configuration and metrics."""

    def run() -> None:
        log = logs.start("info", quiet=False)
        check_destinations(None, None, model_dir=model_dir)  # a --log-file inside it
        version = resolve_version(model_version, old_version, log)
        from forecast.cli.report import describe_bundle
        from forecast.store.versions import Store

        bundle = Store(model_dir).open(version)
        typer.echo(json.dumps(bundle.metadata.to_dict(), indent=2) if as_json else describe_bundle(bundle))

    run_command(run)


def models_list(
    model_dir: ModelDir = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every version, oldest first: created, data range, validation metrics, which is current."""

    def run() -> None:
        logs.start("models list", quiet=False)
        check_destinations(None, None, model_dir=model_dir)  # a --log-file inside it
        from forecast.cli.report import versions_table, versions_to_dicts
        from forecast.store.versions import Store

        store = Store(model_dir)
        store.check_exists()
        rows = versions_to_dicts(store)
        typer.echo(json.dumps({"versions": rows}, indent=2) if as_json else versions_table(rows))

    run_command(run)


def models_use(
    version_id: Annotated[str, typer.Argument(metavar="VERSION", help="The version to make current.", show_default=False)],
    model_dir: ModelDir = "model",
    lock_timeout: LockTimeout = 300.0,
) -> None:
    """Make VERSION current: roll back to an earlier model or forward to a candidate."""

    def run() -> None:
        log = logs.start("models use", quiet=False)
        check_destinations(None, None, model_dir=model_dir)  # a --log-file inside it
        from forecast.store.versions import Store

        store = Store(model_dir)
        store.open(version_id)  # refuse a damaged version before pointing at it
        with store.lock(lock_timeout, logs.notes(log)):
            previous = store.current_id()
            store.set_current(version_id)
        log.info(f"version {printable(version_id)} is now current (was {printable(str(previous))})")

    run_command(run)


def models_prune(
    keep: Annotated[int, typer.Option(help="Newest versions to keep; the current one is kept as well.")],
    model_dir: ModelDir = "model",
    lock_timeout: LockTimeout = 300.0,
) -> None:
    """Delete all but the newest --keep versions, never the current one."""

    def run() -> None:
        log = logs.start("models prune", quiet=False)
        check_destinations(None, None, model_dir=model_dir)  # a --log-file inside it
        from forecast.store.versions import Store

        if keep < 1:
            raise ForecastError(f"--keep must be at least 1. Received: {keep}.")
        store = Store(model_dir)
        store.resolve()  # refuses a directory with no models
        with store.lock(lock_timeout, logs.notes(log)):
            removed = store.prune(keep)
        log.info(f"removed {len(removed)} version(s)" + (f": {', '.join(map(printable, removed))}" if removed else ""))

    run_command(run)
