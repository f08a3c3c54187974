"""Text for the terminal: training summaries, bundle descriptions and backtest tables."""

from __future__ import annotations

from forecast.config import EnsembleCells, TargetTransform, TrainConfig
from forecast.errors import ForecastError, printable
from forecast.evaluation.statistical import STATISTICAL
from forecast.model.fit import BASELINE_CANDIDATES, Metrics, Selection
from forecast.store.bundle import Bundle, read_bundle
from forecast.store.versions import Store

_NAMES = {"naive": "naive", "seasonal_naive": "seasonal naive", "drift": "drift",
          "auto_ets": "AutoETS", "auto_theta": "AutoTheta"}


def training_summary(result, config) -> str:
    """What a training run did and whether it beat the baselines, in a few lines."""
    m = result.metrics
    stopped = "early stopping" if m.epochs_run < config.epochs else "epoch ceiling"
    baselines = ", ".join(f"{_NAMES[name]} {mae:.4g}" for name, mae in m.baselines().items())
    of_series = f" of {m.series_count} series" if m.series_count > 1 else ""
    lines = [
        f"trained {_network(config)} ({m.parameters:,} parameters) on "
        f"{m.train_windows} windows ({m.val_windows} for validation){of_series} in {m.train_seconds:.1f} s "
        f"on {result.fitted.placement}",
        f"epochs run: {m.epochs_run} of {config.epochs} ({stopped}); best epoch {_best_epoch(m, result.fitted.started_from)}, "
        f"validation loss {m.best_val_loss:.4g} (scaled {config.loss.value.upper()})" if m.best_val_loss is not None
        else "epochs run: none kept (no trained network is used)",
        f"validation MAE: {m.val_mae:.4g} (baselines on the same windows: {baselines})",
        *([_selection(result.fitted.selection)] if result.fitted.selection else []),
        _verdict(m, result.fitted.selection),
        f"version: {result.version_id} ({'current' if result.verdict.promote else 'candidate, not current'}) "
        f"in {result.bundle_dir.parent.parent}",
    ]
    return "\n".join(lines)


def _best_epoch(m: Metrics, started_from: str | None) -> str:
    if started_from is None:
        return str(m.best_epoch)
    return f"{m.best_epoch} of a warm start from version {started_from}" + (" (no epoch beat its weights)" if m.best_epoch == 0 else "")


def training_record(result) -> dict:
    """What `train --json` prints: the run's version and promotion, its metrics and the baselines'."""
    m = result.metrics
    baselines = m.baselines()
    selection = result.fitted.selection
    return {
        "version": result.version_id,
        "current": result.verdict.promote,
        "model_dir": str(result.bundle_dir.parent.parent),
        "val_mae": m.val_mae,
        "baseline_mae": baselines,
        # A kept baseline is the baseline, not a network that beat it.
        "beats_baselines": kept_baseline(selection) is None and bool(baselines) and m.val_mae < min(baselines.values()),
        "fell_back_to": kept_baseline(selection),
        "window_norm": None if selection is None else selection.chosen,
        "warm_start": result.fitted.started_from,
        "metrics": m.to_dict(),
        "promotion": result.promotion.to_dict(),
    }


def kept_baseline(selection: Selection | None) -> str | None:
    """The baseline --window-norm auto kept instead of a network, or None where a network serves."""
    return selection.chosen if selection is not None and selection.chosen in BASELINE_CANDIDATES else None


def check_summary(prepared) -> str:
    """What `train --check` found: the data and windows training would use."""
    config, splits = prepared.config, prepared.splits.values()
    rows = sum(len(s.frame) for s in prepared.panel.series.values())
    of = f" in {len(splits)} series" if len(splits) > 1 else ""
    return (
        f"ok: {rows} rows{of}, lookback {config.lookback}, horizon {config.horizon}: "
        f"{sum(s.n_train for s in splits)} training and {sum(s.n_val for s in splits)} validation windows. "
        "Nothing was trained or written."
    )


def _network(config: TrainConfig) -> str:
    """The network in words."""
    stack = f"{config.layers}x{config.units}"
    extras = (" with a linear path" if config.linear_path else "") + (
        " on the target's log" if config.target_transform is TargetTransform.log else "")
    if config.ensemble == 1:
        return f"{stack} {config.cell.value}{extras}"
    cells = "LSTM and GRU in turn" if config.ensemble_cells is EnsembleCells.mixed else config.cell.value
    return f"ensemble of {config.ensemble} {stack} stacks ({cells}, {config.ensemble_combine.value} of their forecasts){extras}"


def _norm(meta) -> str:
    """The window norm in use, and what --window-norm auto kept when it chose."""
    norm = meta.config.window_norm.value
    return norm if meta.selection is None else f"{norm} (auto kept {meta.selection.chosen})"


def _selection(selection: Selection) -> str:
    scores = ", ".join(f"{name} {'diverged' if mae is None else f'{mae:.4g}'}" for name, mae in selection.val_mae.items())
    return f"window norm auto: kept {selection.chosen} (validation MAE {scores})"


def _verdict(m: Metrics, selection: Selection | None = None) -> str:
    if selection is not None and selection.chosen in BASELINE_CANDIDATES:
        kept = selection.chosen
        networks = {n: v for n, v in selection.val_mae.items() if n not in BASELINE_CANDIDATES and v is not None}
        best = min(networks, key=networks.get, default=None)
        if best is not None and networks[best] < selection.val_mae[kept]:
            why = f"the {best} network beat {kept} on validation by less than one standard error"
        else:
            why = f"neither network beat {kept} on validation"
        return f"{why}, so this version forecasts {kept} (the anchored network with its correction at zero)"
    baselines = m.baselines()
    best = min(baselines, key=baselines.get)
    best_mae = baselines[best]
    if m.val_mae < best_mae:
        return f"the model beats every baseline; {1 - m.val_mae / best_mae:.0%} below the best ({_NAMES[best]})"
    return (
        f"the model does NOT beat the {_NAMES[best]} baseline on validation "
        f"(MAE {m.val_mae:.4g} vs {best_mae:.4g}); prefer the baseline or retrain"
    )


def describe_bundle(bundle: Bundle) -> str:
    """The bundle's data, model and validation metrics, for `forecast info`."""
    meta = bundle.metadata
    config, metrics = meta.config, meta.metrics
    past = [name for name in meta.features if name not in meta.future_features]
    features = f" with features {', '.join(past)}" if past else ""
    features += f"{' and' if past else ' with'} future features {', '.join(meta.future_features)}" if meta.future_features else ""
    if meta.id_col:
        names = ", ".join(meta.ids[:5]) + (", ..." if len(meta.ids) > 5 else "")
        shape = f"{len(meta.ids)} series by {meta.id_col} ({names}) at frequency {meta.frequency}"
    else:
        only = meta.series[""]
        shape = f"{only.rows} rows at frequency {only.frequency}, {only.first_timestamp} to {only.last_timestamp}"
    lines = [
        f"bundle:     {bundle.path} (format {meta.format_version}, forecast {meta.forecast_version})",
        f"created:    {meta.created} with keras {meta.keras_version} on {meta.backend}",
        f"data:       {meta.source_text}",
        f"series:     {meta.target}{features}, {shape}",
        f"model:      {_network(config)}, lookback {config.lookback}, "
        f"horizon {config.horizon}, dropout {config.dropout}, window norm {_norm(meta)}, "
        f"{'cycle inputs ' + ' and '.join(c.replace('_', ' ') for c in meta.cycles) + ', ' if meta.cycles else ''}"
        f"{'holidays ' + meta.holidays.code + ', ' if meta.holidays else ''}"
        f"loss {config.loss.value}, seed {config.seed}, batch {config.batch_size}",
        f"predict:    {_engine(bundle.artifact)}",
    ]
    if metrics is not None:
        baselines = ", ".join(f"{_NAMES[name]} {mae:.4g}" for name, mae in metrics.baselines().items())
        lines.append(
            f"validation: MAE {metrics.val_mae:.4g} (baselines: {baselines}), "
            f"{metrics.epochs_run} epochs, {metrics.train_seconds:.1f} s"
            + (f", warm-started from version {meta.warm_start}" if meta.warm_start else "")
        )
    if meta.calibration is not None:
        lines.append(f"intervals:  {meta.calibration.summary(config.horizon)}")
    # Names come from the data: a line break or terminal escape in one must not reach the terminal raw.
    return "\n".join(printable(line) for line in lines)


def tune_report(result) -> str:
    """Every trial of a search (its options, score and time), then the best."""
    from forecast.tune import describe

    lines = [_row(["trial", "state", "MASE", "seconds"], first=8) + "  options"]
    for trial in result.trials:
        mase = "-" if trial.mase is None else f"{trial.mase:.4g}"
        marked = f"{trial.number} *" if trial is result.best else str(trial.number)
        note = f" ({trial.note})" if trial.note else ""
        lines.append(_row([marked, trial.state, mase, f"{trial.seconds:.0f}"], first=8) + f"  {describe(trial.options)}{note}")
    best, given = result.best, result.defaults
    versus = f"{given.mase:.4g}" if given.state == "complete" else given.state
    lines += ["", f"* best: trial {best.number}, mean validation MASE {best.mase:.4g} over {result.folds} folds "
                  f"(trial {given.number}, the options as given: {versus}); the last {result.holdout} rows were not read"]
    return "\n".join(lines)


def backtest_report(result) -> str:
    """The scores table, the error by step and interval coverage of one backtest."""
    scores = result.scores()
    best = _lowest_mase(scores)
    lines = [
        f"backtest of {_subject(result)}: {len(result.folds) // len(result.ids)} folds of {result.horizon} steps "
        f"({_origins(result)}); MASE season {result.season}",
        "",
        _row(["method", "MAE", "RMSE", "sMAPE %", "MAPE %", "MASE"], first=16),
    ]
    for method, score in scores.items():
        label = result.cell if method == "model" else _NAMES[method]
        marked = f"{label} *" if method == best else label
        lines.append(
            _row([marked, score["mae"], score["rmse"], score["smape"], score["mape"], score["mase"]], first=16)
        )
    lines.append(f"* lowest MASE{'' if best == 'model' else f': the model does NOT beat {_NAMES[best]}'}")
    lines += _fell_back(result)
    lines += _unfitted(scores)
    lines += ["", "MAE by step:", _row(["step", result.cell, *(_NAMES[n] for n in result.methods[1:])], first=6)]
    by_step = result.by_step()
    for step in range(result.horizon):
        lines.append(_row([step + 1, *(by_step[method][step] for method in result.methods)], first=6))
    if result.levels:
        points = len(result.folds) * result.horizon
        by_basis = result.coverage_by_basis()
        covered = []
        for level, value in result.coverage().items():
            bases = by_basis[level]
            # One way of calibrating: its name; several: each one's own coverage.
            detail = ", ".join(f"{basis} {share:.1%} of {count}" for basis, (share, count) in bases.items()) \
                if len(bases) > 1 else next(iter(bases))
            covered.append(f"{level}% interval {value:.1%} ({detail})")
        lines += ["", f"coverage over {points} forecasts: {'; '.join(covered)}"]
    return "\n".join(lines)


def compare_report(results) -> str:
    """One table for several cells backtested on the same origins, baselines below, best marked."""
    rows = []
    for result in results:
        score, training = result.scores()["model"], result.training()
        rows.append((result.cell, training, score))
    reference_scores = results[0].scores()
    for name in results[0].methods[1:]:
        rows.append((_NAMES[name], None, reference_scores[name]))
    best = min((i for i in range(len(rows)) if rows[i][2]["mase"] is not None), key=lambda i: rows[i][2]["mase"])
    first = results[0]
    lines = [
        f"compare on {_subject(first)}: {len(first.folds) // len(first.ids)} folds of {first.horizon} steps "
        f"({_origins(first)}); MASE season {first.season}",
        "",
        _row(["method", "params", "train s", "epochs", "val loss", "MAE", "MASE", "sMAPE %"], first=16),
    ]
    for i, (label, training, score) in enumerate(rows):
        name = f"{label} *" if i == best else label
        if training is None:
            cells = [name, "-", "-", "-", "-"]
        else:
            cells = [name, f"{training['parameters']:,}", training["train_seconds"], training["epochs_run"],
                     training["best_val_loss"]]
        lines.append(_row([*cells, score["mae"], score["mase"], score["smape"]], first=16))
    lines.append("* lowest MASE" + ("" if best < len(results) else f": no cell beats {rows[best][0]}"))
    for result in results:
        lines += _fell_back(result)
    lines += _unfitted(reference_scores)
    return "\n".join(lines)


def _lowest_mase(scores: dict) -> str:
    """The method with the lowest MASE among those that forecast every fold."""
    return min((m for m in scores if scores[m]["mase"] is not None), key=lambda m: scores[m]["mase"])


def _fell_back(result) -> list[str]:
    """A note where the model's row is partly or wholly a baseline: the folds where --window-norm
    auto kept one because no network beat it on validation."""
    training = result.training()
    return [f"{result.cell}: fell back to {name} in {count} of {training['folds']} folds (no network beat it on validation)"
            for name, count in training["fell_back"].items()]


def _unfitted(scores: dict) -> list[str]:
    """A note naming the statistical models that could not be fitted to some fold's history."""
    missing = [_NAMES[name] for name in STATISTICAL if scores[name]["mae"] is None]
    if not missing:
        return []
    return [f"n/a: {' and '.join(missing)} could not be fitted to every fold's history (too few rows)"]


def _subject(result) -> str:
    if len(result.ids) == 1:
        return printable(result.target)
    return f"{printable(result.target)} in {len(result.ids)} series (scores averaged over series)"


def _origins(result) -> str:
    first = [fold.timestamps[0] for fold in result.folds if fold.series_id == result.ids[0]]
    label = "origins" if len(result.ids) == 1 else f"origins of {printable(result.ids[0])}"
    return f"{label} {', '.join(first)}"


def _row(cells, first: int) -> str:
    out = [f"{_cell(cells[0]):<{first}}"]
    out += [f"{_cell(value):>14}" for value in cells[1:]]
    return " ".join(out).rstrip()


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def versions_to_dicts(store: Store) -> list[dict]:
    """One row per version of a model store, oldest first, from each bundle's metadata."""
    rows = []
    for version in store.all():
        row = {"id": version.id, "current": version.current, "path": str(version.path)}
        try:
            meta = read_bundle(version.path).metadata
        except ForecastError as exc:
            rows.append({**row, "error": str(exc)})
            continue
        series = list(meta.series.values())
        metrics, promotion = meta.metrics, meta.promotion
        rows.append({
            **row,
            "created": meta.created,
            "data_from": min(s.first_timestamp for s in series),
            "data_to": max(s.last_timestamp for s in series),
            "series": len(series),
            "val_mae": None if metrics is None else metrics.val_mae,
            "naive_mae": None if metrics is None else metrics.naive_mae,
            "promoted": None if promotion is None else promotion.promoted,
            "promotion": None if promotion is None else promotion.reason,
        })
    return rows


def versions_table(rows: list[dict]) -> str:
    """An aligned table of versions, the current one starred."""
    if not rows:
        return "no versions yet: train one with `forecast train`."
    table = [["", "version", "created", "data", "val MAE", "naive MAE", "status"]]
    for row in rows:
        if "error" in row:
            table.append(["", printable(row["id"]), "-", "-", "-", "-", "damaged"])
            continue
        status = "current" if row["current"] else ("candidate" if row["promoted"] is False else "")
        table.append(["*" if row["current"] else "", printable(row["id"]), printable(row["created"] or "-"),
                      printable(f"{row['data_from']} to {row['data_to']}"), _number(row["val_mae"]),
                      _number(row["naive_mae"]), status])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _engine(artifact: str | None) -> str:
    """What `forecast info` says runs the network at predict time."""
    if artifact is None:
        return "Keras (no inference artifact: model.tflite or model.onnx)"
    return f"{'LiteRT' if artifact.endswith('.tflite') else 'ONNX Runtime'} ({artifact}), Keras as fallback"
