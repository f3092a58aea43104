"""The measurements CSV: one row per object of every plane, written atomically."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.outputs import atomic_path

__all__ = ["write_measurements"]


def _text(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{value:.6g}"
    return str(value)


def write_measurements(path: str | Path, tables: Sequence[dict[str, np.ndarray]], *, replace: bool = True) -> Path:
    """Write the tables of an image's planes as one CSV (a ``plane`` column first), atomically."""
    columns = list(tables[0]) if tables else ["label"]
    with atomic_path(path, replace=replace) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["plane", *columns])
        for plane, table in enumerate(tables):
            for row in zip(*(table[c] for c in columns)):
                writer.writerow([plane, *map(_text, row)])
    return Path(path)
