"""Noise transition matrices: estimate one from a clean/noisy pair, and measure it (CRD, rank)."""

from __future__ import annotations

import numpy as np

__all__ = ["transition_counts", "ntm_from_counts", "estimate_ntm", "crd", "min_crd", "ntm_rank"]


def transition_counts(clean: np.ndarray, noisy: np.ndarray, *, n_classes: int | None = None, valid=None) -> np.ndarray:
    """Pixel counts ``C[k, i]`` of noisy label ``k`` over clean label ``i`` (only ``valid`` pixels).

    Counts add up over images; :func:`estimate_ntm` normalises them. The
    wrong-label fraction is ``1 - trace(C) / C.sum()``.
    """
    clean, noisy = np.asarray(clean), np.asarray(noisy)
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy labels differ in shape: {clean.shape} vs {noisy.shape}")
    if valid is not None:
        valid = np.asarray(valid, bool)
        clean, noisy = clean[valid], noisy[valid]
    clean, noisy = clean.astype(np.intp).ravel(), noisy.astype(np.intp).ravel()
    if n_classes is None:
        n_classes = max(2, int(max(clean.max(initial=0), noisy.max(initial=0))) + 1)
    return np.bincount(noisy * n_classes + clean, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def estimate_ntm(clean: np.ndarray, noisy: np.ndarray, *, n_classes: int | None = None, valid=None) -> np.ndarray:
    """Estimate ``Q[k, i] = P(noisy = k | clean = i)`` by counting pixels.

    Parameters
    ----------
    clean, noisy : ndarray of int or bool
        Class maps of the same shape.
    n_classes : int, optional
        Default: one more than the largest class present (at least 2).
    valid : bool ndarray, optional
        Only these pixels are counted (e.g. the sampled pixels of an RCL).

    Returns
    -------
    q : (M, M) float ndarray
        Columns sum to 1; a class absent from ``clean`` gets a column of NaN.
    """
    return ntm_from_counts(transition_counts(clean, noisy, n_classes=n_classes, valid=valid))


def ntm_from_counts(counts: np.ndarray) -> np.ndarray:
    """Normalise :func:`transition_counts` column by column (NaN for a class with no pixel)."""
    totals = counts.sum(axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)


def crd(q: np.ndarray) -> np.ndarray:
    """The complete randomization distance matrix, ``d[u, v] = sum_k |Q[k, u] - Q[k, v]|``.

    0 means classes ``u`` and ``v`` are indistinguishable in the noisy labels;
    2 is the largest distance (no randomization between them).
    """
    q = np.asarray(q, float)
    return np.abs(q[:, :, None] - q[:, None, :]).sum(axis=0)


def min_crd(q: np.ndarray) -> float:
    """The smallest CRD over pairs of distinct classes."""
    d = crd(q)
    return float(d[~np.eye(len(d), dtype=bool)].min())


def ntm_rank(q: np.ndarray, *, tol: float = 1e-6) -> int:
    """The rank of ``Q``: how many classes survive the noise (the papers' Lemma 2)."""
    return int(np.linalg.matrix_rank(np.asarray(q, float), tol=tol))
