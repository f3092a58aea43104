"""From a probability map to a final mask: small holes filled, out-of-field removed."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..starts.field import expand_mask, out_of_field

__all__ = ["fill_small_holes", "typical_radius", "clean_mask"]


_STRIP = 1024  # rows of distance transform computed at once
_REACH = 512  # rows of context around a strip; radii are capped just above this


def typical_radius(mask: np.ndarray) -> float:
    """The median, over connected objects, of the radius of the largest square inside each.

    The radius is the chessboard distance to the nearest background pixel,
    computed in strips of rows with ``_REACH`` rows of context on each side,
    so memory stays near one int32 label image even for gigapixel masks.
    Radii are exact up to ``_REACH`` and capped just above it.
    """
    mask = np.asarray(mask, bool)
    regions, n = ndi.label(mask)
    if n == 0:
        return 0.0
    radii = np.zeros(n + 1, np.int32)
    rows = mask.shape[0]
    for top in range(0, rows, _STRIP):
        bottom = min(rows, top + _STRIP)
        lo, hi = max(0, top - _REACH), min(rows, bottom + _REACH)
        distance = ndi.distance_transform_cdt(mask[lo:hi], metric="chessboard")[top - lo : bottom - lo]
        # -1 (no background in the strip) or farther than the context: the radius exceeds _REACH
        distance[(distance < 0) | (distance > _REACH)] = _REACH + 1
        np.maximum.at(radii, regions[top:bottom].ravel(), distance.ravel())
    return float(np.median(radii[1:]))


def fill_small_holes(mask: np.ndarray) -> np.ndarray:
    """Fill holes smaller than a typical object (a disk of :func:`typical_radius`).

    Nucleoli and dim centres punch holes in nuclei that no annotator draws;
    the loops of a vessel or filament network enclose far more than the
    area of a disk as wide as a filament, so they stay open.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask
    limit = np.pi * typical_radius(mask) ** 2
    # holes: background components (4-connected, as in binary_fill_holes) that miss the border
    background, n = ndi.label(~mask)
    if n == 0:
        return mask
    small = np.bincount(background.ravel(), minlength=n + 1) < limit
    small[0] = False
    edges = (background[0], background[-1], background[:, 0], background[:, -1])
    small[np.unique(np.concatenate(edges))] = False
    return mask | small[background]


def clean_mask(mask: np.ndarray, small: np.ndarray, step: int) -> np.ndarray:
    """``mask`` with its small holes filled and the pixels outside the field of view of ``small`` (the image at every ``step``-th pixel) removed."""
    if not mask.any():
        return mask
    mask = fill_small_holes(mask)
    field = out_of_field(small)
    if field.any():
        mask &= ~expand_mask(field, step, mask.shape)
    return mask
