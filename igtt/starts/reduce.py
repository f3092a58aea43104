"""Working on less: an even sample of the images to estimate from, and images reduced to the scale that matters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.transform import rescale

__all__ = ["spread", "resize_factor", "grey_opening"]


def spread(images: Sequence, most: int) -> list:
    """At most ``most`` of ``images``, evenly spaced (first and last included): a sample to estimate from."""
    picks = np.unique(np.linspace(0, len(images) - 1, min(len(images), most)).round().astype(int))
    return [images[i] for i in picks]


def resize_factor(size: float, target: float) -> float:
    """The factor (at most 1) that brings a structure of ``size`` pixels to about ``target`` pixels."""
    return min(1.0, target / max(size, 1e-6))


def grey_opening(image: np.ndarray, radius: float, *, target: float = 6.0) -> np.ndarray:
    """A grey opening with a disk of ``radius``, computed at a reduced scale where the disk has ~``target`` px.

    Removes bright structures narrower than the disk (thin lines, fine
    texture) and keeps wider ones. Returns an array of the input's shape.
    """
    from skimage.morphology import disk, opening
    from skimage.transform import resize

    factor = resize_factor(radius, target)
    small = rescale(image, factor, anti_aliasing=True) if factor < 1 else image
    small = opening(small, disk(max(1, int(round(radius * factor)))))
    return resize(small, image.shape, order=1) if factor < 1 else small
