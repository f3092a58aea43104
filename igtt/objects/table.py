"""The measurements CSV (one row per object of every plane) and the per-image summary (one row per image or plane), written atomically."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.outputs import atomic_path

__all__ = ["SUMMARY", "write_measurements", "summary_rows", "read_summary", "write_summary"]


def _text(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{value:.6g}"
    return str(value)


def write_measurements(path: str | Path, tables: Sequence[dict[str, np.ndarray]], *, replace: bool = True, planes: bool = True) -> Path:
    """Write the tables of an image's planes as one CSV (a ``plane`` column first; a volume's one table without it), atomically."""
    columns = list(tables[0]) if tables else ["label"]
    with atomic_path(path, replace=replace) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["plane", *columns] if planes else columns)
        for plane, table in enumerate(tables):
            for row in zip(*(table[c] for c in columns)):
                writer.writerow([plane, *map(_text, row)] if planes else list(map(_text, row)))
    return Path(path)


SUMMARY = "objects_summary.csv"  # the per-image summary, beside the masks


def summary_rows(image: str, tables: Sequence[dict] | None, objects: Sequence[np.ndarray], *, volume: bool = False) -> list[dict]:
    """One row per plane (one for a volume) of an image's objects: how many, their median area (volume), and the
    mean over its objects of each mean-intensity column, in µm where the table has it.

    ``tables``: the image's measurements (:func:`igtt.measure`, one per
    plane), or None where none were made: then only the count and median size, from ``objects``.
    """
    size = "volume" if volume else "area"
    rows = []
    for plane, labels in enumerate(objects):
        row = {"image": image, "plane": "" if volume else plane}
        table = tables[plane] if tables is not None else None
        if table is None:
            sizes = np.bincount(np.asarray(labels).ravel())[1:]
            sizes = sizes[sizes > 0]
        else:
            sizes = np.asarray(table.get(size, table.get("area")), float)
        row["objects"] = len(sizes)
        row[f"median_{size}"] = float(np.median(sizes)) if len(sizes) else ""
        table = table or {}
        for column in (f"{size}_um2", f"{size}_um3"):
            if column in table:
                row[f"median_{column}"] = float(np.median(table[column])) if len(sizes) else ""
        for column, values in table.items():
            if column.startswith("intensity_mean"):
                row[f"mean_{column}"] = float(np.nanmean(values)) if len(values) and not np.isnan(values).all() else ""
        rows.append(row)
    return rows


def read_summary(path: str | Path) -> list[dict]:
    """The rows of an existing summary (none where there is no file)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_summary(path: str | Path, rows: Sequence[dict], *, keep_others: bool = False) -> Path:
    """Write the per-image summary atomically; columns in order of first use, blank where an image has none.

    ``keep_others``: keep an existing summary's rows of the images not in ``rows`` (a resumed run).
    """
    rows = list(rows)
    if keep_others:
        ours = {r["image"] for r in rows}
        rows = [r for r in read_summary(path) if r["image"] not in ours] + rows
    columns = list(dict.fromkeys(c for r in rows for c in r)) or ["image", "plane", "objects"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _text(v) if isinstance(v, (float, np.floating)) else v for k, v in row.items()})
    return Path(path)
