"""Scoring folders of predicted masks against ground truth, matched by file stem."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .files import images_by_stem, read_image
from .outputs import atomic_path
from .metrics import roc_auc, scores

__all__ = ["evaluate_folders", "unmatched", "write_csv"]

_EXTRA = ("_prob", "_labels")


def unmatched(pred_dir, gt_dir) -> tuple[list[Path], list[Path]]:
    """Predicted masks without a ground truth of the same stem, and ground truths without a prediction."""
    preds, truths = images_by_stem(Path(pred_dir)), images_by_stem(Path(gt_dir))
    masks = {s: p for s, p in preds.items() if not (s.endswith(_EXTRA) and s.rsplit("_", 1)[0] in preds)}
    return [p for s, p in sorted(masks.items()) if s not in truths], [p for s, p in sorted(truths.items()) if s not in masks]


def evaluate_folders(pred_dir, gt_dir, *, fov_dir=None, skipped: list[str] | None = None) -> list[dict]:
    """Per-image Dice, IoU, precision, recall, accuracy (and AUC where ``<stem>_prob.tif`` exists).

    Foreground is ``value > 0`` in masks and ground truth. Returns one dict
    per matched image and a last row ``image="mean"`` (NaN-skipping means).
    With ``skipped``, an image whose files cannot be read or differ in shape
    is left out and its one-line reason appended there; without, it raises.

    Raises
    ------
    FileNotFoundError
        A folder is missing, or no prediction matches a ground-truth stem.
    ValueError
        A file cannot be read or a prediction and its ground truth differ
        in shape (without ``skipped``), or no image could be scored.
    """
    preds = images_by_stem(Path(pred_dir))
    truths = images_by_stem(Path(gt_dir))
    fovs = images_by_stem(Path(fov_dir)) if fov_dir is not None else {}
    stems = sorted(s for s in preds if s in truths and not (s.endswith(_EXTRA) and s.rsplit("_", 1)[0] in preds))
    if not stems:
        raise FileNotFoundError(f"no predicted mask in {pred_dir} matches a ground-truth file in {gt_dir} by name")
    rows = []
    for stem in stems:
        try:
            rows.append(_score(stem, preds, truths, fovs))
        except ValueError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
    if not rows:
        raise ValueError(f"no image of {pred_dir} could be scored: {skipped[0] if skipped else ''}")
    keys = [k for k in rows[0] if k != "image"]
    mean = {"image": "mean"}
    for k in keys:
        values = [r[k] for r in rows if k in r]
        mean[k] = float(np.nanmean(values)) if values and not np.all(np.isnan(values)) else float("nan")
    return rows + [mean]


def _score(stem: str, preds: dict, truths: dict, fovs: dict) -> dict:
    pred = read_image(preds[stem]) > 0
    truth = read_image(truths[stem]) > 0
    region = read_image(fovs[stem]) > 0 if stem in fovs else None
    if pred.shape != truth.shape:
        raise ValueError(f"{preds[stem]}: shape {pred.shape} differs from ground truth {truth.shape}")
    row = {"image": stem, **scores(pred, truth, region=region)}
    if stem + "_prob" in preds:
        row["auc"] = roc_auc(read_image(preds[stem + "_prob"]), truth, region=region)
    return row


def write_csv(path, rows: list[dict], columns: list[str], *, replace: bool = True) -> None:
    """Write per-image scores as CSV, atomically (see :func:`igtt.io.outputs.atomic_path`)."""
    with atomic_path(path, replace=replace) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", *columns])
        for r in rows:
            writer.writerow([r["image"], *(f"{r[c]:.6f}" if c in r else "" for c in columns)])
