"""Write a benchmark's table into its page under docs/, between its `<!-- NAME:start -->` and `<!-- NAME:end -->` markers."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {  # which page of docs/ holds each benchmark's table
    "accuracy": "docs/accuracy.md",
    "samples": "docs/accuracy.md",
    "intervals": "docs/accuracy.md",
    "known_inputs": "docs/accuracy.md",
    "throughput": "docs/performance.md",
    "memory": "docs/performance.md",
    "startup": "docs/performance.md",
    "gpu": "docs/performance.md",
    "cpu_levers_tensorflow": "docs/performance.md",
    "cpu_levers_jax": "docs/performance.md",
    "warm_start": "docs/performance.md",
    "tune": "docs/accuracy.md",
    "anomaly": "docs/anomaly.md",
}


def write_section(name: str, text: str) -> None:
    page = ROOT / PAGES[name]
    content = page.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in content or end not in content:
        raise SystemExit(f"error: {PAGES[name]} has no {start} ... {end} section to write into.")
    before, _, rest = content.partition(start)
    _, _, after = rest.partition(end)
    page.write_text(f"{before}{start}\n{text}\n{end}{after}")


def publish(name: str, lines: list[str], write: bool) -> None:
    """Print a measured table with when and where it was measured; with `write`, also write it
    into its page's `name` section."""
    text = "\n".join([*lines, "", stamp()])
    print(text)
    if write:
        write_section(name, text)


def stamp() -> str:
    """When and where a table was measured, for the line under it."""
    return f"Measured {dt.date.today().isoformat()} on {platform.machine()} with {os.cpu_count()} CPU cores, Python {platform.python_version()}."
