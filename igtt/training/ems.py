"""EMS, the extraction of meta-structure (paper, "Extraction-of-Meta-Structure Module").

skeletonize -> shift every skeleton pixel by a random offset within radius r
-> keep each shifted pixel with probability ``p_sample``.
"""

from __future__ import annotations

import numpy as np
from skimage.morphology import skeletonize

__all__ = ["extract_meta_structure", "random_shift", "random_keep"]



def random_shift(mask: np.ndarray, *, radius: int = 1, rng=None) -> np.ndarray:
    """Move every True pixel of ``mask`` by a random offset with ``|dr|, |dc| <= radius``.

    Offsets are drawn independently per pixel; a pixel moved off the image
    is dropped. Vectorised over the pixels.

    Parameters
    ----------
    mask : (M, N) bool ndarray
    radius : int
        r >= 0; 0 returns a copy of ``mask``.
    rng : int, Generator or None

    Returns
    -------
    shifted : (M, N) bool ndarray
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    mask = np.asarray(mask, dtype=bool)
    if radius == 0:
        return mask.copy()
    rng = np.random.default_rng(rng)
    rows, cols = np.nonzero(mask)
    rows = rows + rng.integers(-radius, radius + 1, size=rows.size)
    cols = cols + rng.integers(-radius, radius + 1, size=cols.size)
    inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    out = np.zeros_like(mask)
    out[rows[inside], cols[inside]] = True
    return out


def random_keep(mask: np.ndarray, *, p_sample: float, rng=None) -> np.ndarray:
    """Keep each True pixel of ``mask`` independently with probability ``p_sample``."""
    if not 0.0 <= p_sample <= 1.0:
        raise ValueError(f"p_sample must be in [0, 1], got {p_sample}")
    mask = np.asarray(mask, dtype=bool)
    return mask & (np.random.default_rng(rng).random(mask.shape) < p_sample)


def extract_meta_structure(
    mask: np.ndarray, *, radius: int = 1, p_sample: float = 0.1, rng=None, skeleton: np.ndarray | None = None
) -> np.ndarray:
    """EMS: skeleton of ``mask``, randomly shifted, randomly subsampled.

    Parameters
    ----------
    mask : (M, N) bool ndarray
        A candidate segmentation.
    radius : int
        r, the largest shift of a skeleton pixel along each axis.
    p_sample : float
        Probability of keeping each shifted skeleton pixel.
    rng : int, Generator or None
    skeleton : (M, N) bool ndarray, optional
        ``mask``'s skeleton, when already computed (training redraws EMS
        every epoch from the same mask).

    Returns
    -------
    meta : (M, N) bool ndarray
        A sparse foreground label; ``meta`` lies inside the shifted skeleton.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2D, got shape {mask.shape}")
    rng = np.random.default_rng(rng)
    skeleton = skeletonize(mask) if skeleton is None else skeleton
    return random_keep(random_shift(skeleton, radius=radius, rng=rng), p_sample=p_sample, rng=rng)
