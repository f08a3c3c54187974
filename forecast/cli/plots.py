"""PNG plots: a forecast with its intervals, training loss by epoch, a backtest's folds, and detected anomalies."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from forecast.cli.output import plot_format, write_output

_REFERENCE_STYLE = {"naive": ("tab:gray", ":", "naive"), "seasonal_naive": ("tab:green", "--", "seasonal naive"),
                    "drift": ("tab:purple", "-.", "drift"), "auto_ets": ("tab:red", (0, (5, 1, 1, 1)), "AutoETS")}


def plot_forecast(recent: pd.Series, frame: pd.DataFrame, target: str, path: str) -> None:
    """Recent history, the forecast and its interval bands, on a dated axis in the data's units."""
    plt = _pyplot()
    stamps = pd.to_datetime(frame["timestamp"])
    figure, axis = plt.subplots(figsize=(10, 4.5), layout="constrained")
    axis.plot(recent.index, recent.to_numpy(), color="tab:blue", label="history")
    # Join the forecast to the last observation so the line does not start in mid-air.
    axis.plot([recent.index[-1], *stamps], [recent.iloc[-1], *frame["forecast"]], color="tab:orange", label="forecast")
    levels = sorted((int(c.split("_")[1]) for c in frame.columns if c.startswith("lower_")), reverse=True)
    for shade, level in zip((0.18, 0.32, 0.45), levels):
        axis.fill_between(stamps, frame[f"lower_{level}"], frame[f"upper_{level}"], color="tab:orange",
                          alpha=shade, linewidth=0, label=f"{level}% interval")
    axis.axvline(recent.index[-1], color="black", linewidth=0.8, alpha=0.5)
    _finish(axis, f"{target}: forecast of {len(frame)} steps", target)
    _save(figure, path)


def plot_detection(history: pd.Series, frame: pd.DataFrame, target: str, level: int, path: str) -> None:
    """The series, the band it was expected in over the scored rows, the rows flagged, and a line
    at each alarm (the start of an episode)."""
    plt = _pyplot()
    stamps = pd.to_datetime(frame["timestamp"])
    flagged, alarms = frame["anomaly"].to_numpy(), frame["alarm"].to_numpy()
    figure, axis = plt.subplots(figsize=(12, 4.5), layout="constrained")
    axis.fill_between(stamps, frame[f"lower_{level}"], frame[f"upper_{level}"], color="tab:orange", alpha=0.3,
                      linewidth=0, label=f"expected ({level}% interval)")
    axis.plot(history.index, history.to_numpy(), color="tab:blue", linewidth=0.8, label=target)
    axis.scatter(stamps[flagged], frame["actual"].to_numpy()[flagged], color="tab:red", s=18, zorder=3,
                 label=f"anomaly ({int(flagged.sum())})")
    for number, stamp in enumerate(stamps[alarms]):
        axis.axvline(stamp, color="tab:red", linewidth=0.8, alpha=0.4, label=None if number else f"alarm ({int(alarms.sum())})")
    _finish(axis, f"{target}: {int(flagged.sum())} of {len(frame)} rows flagged, in {int(alarms.sum())} alarms", target)
    _save(figure, path)


def plot_loss(fitted, path: str) -> None:
    """Training and validation loss by epoch, with the restored best epoch marked. Where
    `--window-norm auto` kept a baseline (which trains nothing), the networks it trained and set
    aside are drawn instead, and the title says so."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5), layout="constrained")
    title = "Loss by epoch (MSE on the scaled target)"
    if fitted.loss_history.get("loss"):
        histories = {"": fitted.loss_history}
        best = fitted.metrics.best_epoch
        axis.axvline(best, color="black", linestyle="--", linewidth=0.8, label=f"best epoch ({best})")
    else:
        histories = {f"{name} network, ": history for name, history in fitted.raced.items() if history.get("loss")}
        kept = fitted.selection.chosen if fitted.selection else "no network"
        title = f"Networks trained and not kept: this version forecasts {kept}"
    for name, history in histories.items():
        epochs = np.arange(1, len(history["loss"]) + 1)
        axis.plot(epochs, history["loss"], marker=".", label=f"{name}training loss")
        axis.plot(epochs, history["val_loss"], marker=".", label=f"{name}validation loss")
    if not histories:
        axis.text(0.5, 0.5, "no network was trained", ha="center", va="center", transform=axis.transAxes)
    elif all(value > 0 for history in histories.values() for key in ("loss", "val_loss") for value in history[key]):
        axis.set_yscale("log")  # only where every loss is above zero: a log axis cannot draw the others
    axis.set_xlabel("epoch")
    _finish(axis, title, "loss", dated=False)
    _save(figure, path)


def plot_backtest(result, path: str, series: str | None = None) -> None:
    """One panel per fold of one series (the first, unless named): actuals, forecast, bands, baselines, AutoETS."""
    plt = _pyplot()
    key = result.ids[0] if series is None else series
    folds = [fold for fold in result.folds if fold.series_id == key]
    figure, axes = plt.subplots(len(folds), 1, figsize=(10, 2.8 * len(folds) + 0.6), layout="constrained", squeeze=False)
    target = result.targets[key]
    for axis, fold in zip(axes[:, 0], folds):
        stamps = pd.to_datetime(fold.timestamps)
        before = target.iloc[max(0, fold.origin - 3 * result.horizon) : fold.origin]
        axis.plot(before.index, before.to_numpy(), color="tab:blue", label="history")
        axis.plot(stamps, fold.actual, color="black", marker=".", label="actual")
        for level in sorted(fold.bounds, reverse=True):
            lower, upper = fold.bounds[level]
            axis.fill_between(stamps, lower, upper, color="tab:orange", alpha=0.2 if level >= 90 else 0.35,
                              linewidth=0, label=f"{level}% interval")
        axis.plot(stamps, fold.forecasts["model"], color="tab:orange", linewidth=2, label=result.cell)
        for name, (color, style, label) in _REFERENCE_STYLE.items():
            axis.plot(stamps, fold.forecasts[name], color=color, linestyle=style, label=label)
        _finish(axis, (f"{key}: " if key else "") + f"origin {fold.timestamps[0]}", result.target)
    _save(figure, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def _finish(axis, title: str, ylabel: str, dated: bool = True) -> None:
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", fontsize="small", ncols=2)
    if dated:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _save(figure, path: str) -> None:
    """Render the image in memory, in the format the path's extension names (PNG, SVG or PDF),
    then write it as every output is written (forecast.cli.output)."""
    import matplotlib.pyplot as plt

    image = io.BytesIO()
    try:
        figure.savefig(image, format=plot_format(path), dpi=110)
    finally:
        plt.close(figure)
    write_output(path, image.getvalue(), "--plot")
