"""Binary segmentation metrics on boolean masks; no ground truth is ever used in training."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion", "scores", "roc_auc"]


def confusion(pred: np.ndarray, truth: np.ndarray, *, region: np.ndarray | None = None) -> tuple[int, int, int, int]:
    """Counts (tp, fp, fn, tn) of ``pred`` against ``truth``, inside ``region`` if given.

    Raises
    ------
    ValueError
        The shapes differ.
    """
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {truth.shape}")
    if region is not None:
        region = np.asarray(region, bool)
        if region.shape != truth.shape:
            raise ValueError(f"region shape {region.shape} differs from ground truth shape {truth.shape}")
        pred, truth = pred[region], truth[region]
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    tn = int(pred.size - tp - fp - fn)
    return tp, fp, fn, tn


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def scores(pred: np.ndarray, truth: np.ndarray, *, region: np.ndarray | None = None) -> dict[str, float]:
    """Dice, IoU, precision, recall and accuracy of one mask.

    A ratio whose denominator is zero (e.g. Dice of an empty prediction
    against an empty truth) is NaN, so means can skip it (``np.nanmean``).
    """
    tp, fp, fn, tn = confusion(pred, truth, region=region)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
    }


def roc_auc(proba: np.ndarray, truth: np.ndarray, *, region: np.ndarray | None = None) -> float:
    """Area under the ROC curve of a probability map (Mann-Whitney, ties averaged)."""
    proba = np.asarray(proba, np.float64)
    truth = np.asarray(truth, bool)
    if region is not None:
        proba, truth = proba[np.asarray(region, bool)], truth[np.asarray(region, bool)]
    proba, truth = proba.ravel(), truth.ravel()
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(proba)  # ties get their average rank
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
