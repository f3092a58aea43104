"""Threshold search: the candidate mask most correlated with a prediction (paper Eq. 2-4)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["threshold_search", "bright_side", "covers_brighter"]


def threshold_search(p: torch.Tensor, *, n_thresholds: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick, per image, the threshold of ``p`` whose mask minimises ``-log|det Q|``.

    ``K = n_thresholds`` thresholds are spaced evenly from ``min(p)`` to
    ``max(p)`` of each image; the end points give an empty or a full mask
    (``det Q = 0``), so they are never chosen unless the image is constant.
    All K candidates are scored at once from the sorted values, in
    O(N log N) time and O(N) memory per image.

    Parameters
    ----------
    p : (B, M, N) tensor
        Foreground probabilities.
    n_thresholds : int
        K, at least 3.

    Returns
    -------
    masks : (B, M, N) bool tensor
        The chosen candidate for each image (all False for a constant image).
    thresholds : (B,) tensor
        The chosen thresholds.
    """
    if n_thresholds < 3:
        raise ValueError(f"n_thresholds must be at least 3, got {n_thresholds}")
    if p.ndim != 3:
        raise ValueError(f"p must have shape (batch, rows, cols), got {tuple(p.shape)}")
    flat = p.detach().flatten(1).float()
    lo = flat.min(1).values
    hi = flat.max(1).values
    steps = torch.linspace(0, 1, n_thresholds, device=p.device)
    thresholds = lo[:, None] + (hi - lo)[:, None] * steps[None, :]  # (B, K)
    # det Q for every candidate without building K masks: with A = sum of p
    # over p > t, C = count of p > t, S = sum of p, n = pixels,
    # Q = [[A, S - A], [C - A, n - S - C + A]] / n.
    n = flat.shape[1]
    srt = flat.sort(1).values
    csum = torch.nn.functional.pad(srt.double().cumsum(1), (1, 0))  # (B, N+1)
    total = csum[:, -1:]
    below = torch.searchsorted(srt, thresholds.contiguous(), right=True)  # (B, K)
    count = (n - below).double()
    above = total - csum.gather(1, below)
    q00, q01 = above / n, (total - above) / n
    q10, q11 = (count - above) / n, (n - total - count + above) / n
    det = q00 * q11 - q01 * q10
    best = det.abs().argmax(1)  # candidates p > t never anti-correlate with p: |det| = det
    chosen = thresholds.gather(1, best[:, None])[:, 0]
    masks = p > chosen[:, None, None]
    constant = hi <= lo
    masks[constant] = False
    return masks, chosen


def bright_side(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Return ``mask`` or its complement, whichever covers the brighter pixels of ``image``.

    The DMI criterion is blind to polarity: a network may learn the
    background as well as the objects. ``image`` is oriented so objects are
    bright, so the side with the higher mean intensity is the object.
    An empty or full mask is returned unchanged.
    """
    mask = np.asarray(mask, dtype=bool)
    return mask if covers_brighter(mask, image) else ~mask


def covers_brighter(mask: np.ndarray, image: np.ndarray) -> bool:
    """Whether ``mask`` covers pixels at least as bright, on average, as its complement.

    An empty or full mask counts as covering the brighter side.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return True
    return bool(image[mask].mean() >= image[~mask].mean())
