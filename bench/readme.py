"""Write a benchmark's table into README.md between its `<!-- NAME:start -->` and `<!-- NAME:end -->` markers."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_section(name: str, text: str) -> None:
    readme = ROOT / "README.md"
    content = readme.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in content or end not in content:
        raise SystemExit(f"error: README.md has no {start} ... {end} section to write into.")
    before, _, rest = content.partition(start)
    _, _, after = rest.partition(end)
    readme.write_text(f"{before}{start}\n{text}\n{end}{after}")


def publish(name: str, lines: list[str], readme: bool) -> None:
    """Print a measured table with when and where it was measured; with `readme`, also write it
    into README.md's `name` section."""
    text = "\n".join([*lines, "", stamp()])
    print(text)
    if readme:
        write_section(name, text)


def stamp() -> str:
    """When and where a table was measured, for the line under it."""
    return f"Measured {dt.date.today().isoformat()} on {platform.machine()} with {os.cpu_count()} CPU cores, Python {platform.python_version()}."
