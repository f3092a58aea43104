"""Synthetic label noise for the meta-structure study: RCL, PCL and RL (papers' Table 1).

Every function is pure: it takes clean labels and a random generator (or a
seed) and returns new arrays. Labels are integer class maps, ``0`` is the
background; binary labels are bool or 0/1.

Noise transition matrices (NTMs) follow the papers: ``Q[k, i]`` is the
probability that a pixel of true class ``i`` gets the noisy label ``k``, so
each column sums to 1. The binary matrix with flip rates ``P10`` (0 → 1) and
``P01`` (1 → 0) is ``[[1 - P10, P01], [P10, 1 - P01]]``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "binary_ntm",
    "symmetric_ntm",
    "apply_ntm",
    "random_sample",
    "random_sample_exact",
    "dilate",
    "erode",
    "skeleton",
    "random_label",
]



def check_probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def binary_ntm(p10: float, p01: float) -> np.ndarray:
    """The 2x2 NTM that flips background to foreground with ``p10`` and foreground to background with ``p01``."""
    p10, p01 = check_probability("p10", p10), check_probability("p01", p01)
    return np.array([[1 - p10, p01], [p10, 1 - p01]])


def symmetric_ntm(n_classes: int, p_flip: float) -> np.ndarray:
    """An ``n_classes`` NTM that moves a fraction ``p_flip`` of every class to the others, evenly."""
    p_flip = check_probability("p_flip", p_flip)
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    q = np.full((n_classes, n_classes), p_flip / (n_classes - 1))
    np.fill_diagonal(q, 1 - p_flip)
    return q


def check_ntm(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, float)
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise ValueError(f"an NTM must be a square matrix, got shape {q.shape}")
    if (q < 0).any() or not np.allclose(q.sum(axis=0), 1.0, atol=1e-6):
        raise ValueError("an NTM must be non-negative with columns summing to 1 (Q[k, i] = P(noisy k | true i))")
    return q


def apply_ntm(labels: np.ndarray, q: np.ndarray, rng=None) -> np.ndarray:
    """Replace each pixel's class ``i`` by a class drawn from column ``i`` of ``q``.

    Parameters
    ----------
    labels : ndarray of int or bool
        Class indices in ``[0, M)``.
    q : (M, M) array_like
        The NTM; columns sum to 1.
    rng : numpy Generator or seed

    Returns
    -------
    noisy : ndarray of the dtype of ``labels``
    """
    q = check_ntm(q)
    labels = np.asarray(labels)
    classes = labels.astype(np.intp)
    if classes.size and (classes.min() < 0 or classes.max() >= len(q)):
        raise ValueError(f"labels must be classes 0..{len(q) - 1} for a {len(q)}x{len(q)} NTM")
    cumulative = np.cumsum(q, axis=0)[:-1]  # (M-1, M): P(noisy <= k | true i)
    u = np.random.default_rng(rng).random(labels.shape)
    noisy = np.zeros(labels.shape, np.uint8 if len(q) <= 256 else np.int32)
    for row in cumulative:  # noisy = number of cumulative levels below u
        noisy += u >= row[classes]
    return noisy.astype(labels.dtype, copy=False)


def random_sample(labels: np.ndarray, p_sample: float, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """RCL by sampling, the papers' way: keep each foreground pixel with probability ``p_sample``.

    The unsampled foreground pixels are not relabelled: they are left out of
    the loss. Background pixels all count.

    Returns
    -------
    labels : ndarray
        ``labels`` unchanged (a copy).
    valid : bool ndarray
        The pixels that count in the loss.
    """
    p_sample = check_probability("p_sample", p_sample)
    labels = np.asarray(labels)
    foreground = labels != 0
    valid = ~foreground | (np.random.default_rng(rng).random(labels.shape) < p_sample)
    return labels.copy(), valid


def random_sample_exact(labels: np.ndarray, p_sample: float, rng=None) -> np.ndarray:
    """RCL by sampling, the reference code's way: keep exactly ``round(p_sample * n)`` foreground pixels.

    The other foreground pixels become background (all pixels count in the
    loss), which is the NTM ``[[1, 1 - p], [0, p]]`` for binary labels.
    """
    p_sample = check_probability("p_sample", p_sample)
    labels = np.asarray(labels)
    where = np.flatnonzero(labels != 0)
    drop = np.random.default_rng(rng).permutation(where)[int(round(p_sample * where.size)) :]
    out = labels.copy()
    out.ravel()[drop] = 0
    return out


def _structure(size: int) -> np.ndarray:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"the structuring element size must be odd and positive, got {size}")
    return np.ones((size, size), bool)


def dilate(labels: np.ndarray, *, size: int = 3, iterations: int = 1) -> np.ndarray:
    """PCL by dilation of the foreground with a ``size`` x ``size`` square, ``iterations`` times."""
    return ndi.binary_dilation(np.asarray(labels) != 0, _structure(size), iterations=iterations)


def erode(labels: np.ndarray, *, size: int = 3, iterations: int = 1) -> np.ndarray:
    """PCL by erosion of the foreground with a ``size`` x ``size`` square, ``iterations`` times."""
    # border_value=1: an object cut by the image edge is not eroded from outside the image
    return ndi.binary_erosion(np.asarray(labels) != 0, _structure(size), iterations=iterations, border_value=1)


def skeleton(labels: np.ndarray) -> np.ndarray:
    """PCL by skeletonisation: the one-pixel-wide skeleton of the foreground."""
    from skimage.morphology import skeletonize

    return skeletonize(np.asarray(labels) != 0)


def random_label(shape: tuple[int, ...], p_generate: float, rng=None) -> np.ndarray:
    """RL: every pixel is foreground with probability ``p_generate``, whatever the image."""
    p_generate = check_probability("p_generate", p_generate)
    return np.random.default_rng(rng).random(shape) < p_generate
