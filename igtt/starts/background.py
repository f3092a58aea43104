"""The background of an image at the scale of its objects: what the blob start and the network input subtract."""

from __future__ import annotations

import numpy as np
from skimage.filters import gaussian
from skimage.morphology import disk, opening
from skimage.transform import rescale

from .reduce import resize_factor

__all__ = ["Background", "background_scale"]

_TOPHAT = 3 / 4  # background: an opening with a disk of 3/4 of the diameter keeps objects up to ~1.5 diameters
_TARGET = 12.0  # the background is computed where an object is ~12 px across


def background_scale(diameter: float, given: float = 1.0) -> tuple[float, int]:
    """Where :class:`Background` works for objects of ``diameter``: the reduction factor and its disk radius there.

    ``given``: the image is already reduced by this factor (no further than that).
    """
    factor = min(resize_factor(diameter, _TARGET), given)
    return factor, max(2, int(round(_TOPHAT * diameter * factor)))


class Background:
    """The background of an image at the scale of its objects, kept at reduced size.

    A grey opening of the lightly smoothed image with a disk of 3/4 of the
    object diameter, computed where an object is about 12 pixels across: structures
    larger than ~1.5 objects (glow, out-of-focus cells, uneven illumination)
    belong to it, objects do not. The image minus its background is what the
    network sees and what the start thresholds; it is taken tile by tile at
    prediction (:meth:`crop`), so a gigapixel image is never held twice.

    Parameters
    ----------
    image : (M, N) float ndarray
        Normalised, objects bright; a strided or reduced view is fine as long
        as ``shape`` gives the full size.
    diameter : float
        Typical object diameter in full-size pixels.
    shape : (int, int), optional
        Full size of the image ``image`` stands for (default its own shape).
    """

    def __init__(self, image: np.ndarray, diameter: float, *, shape: tuple[int, int] | None = None):
        shape = tuple(shape or image.shape)
        given = image.shape[0] / shape[0]  # ``image`` may already be reduced
        factor, radius = background_scale(diameter, given)
        small = np.asarray(image, np.float32)
        if factor < given:
            small = rescale(small, factor / given, anti_aliasing=True)
        small = gaussian(small, max(0.5, factor))  # ~1 full-size pixel, at least half a reduced one
        self.objects = small.astype(np.float32)
        self.small = opening(self.objects, disk(radius)).astype(np.float32)
        self.shape = shape

    def crop(self, rows: slice, cols: slice, *, of: np.ndarray | None = None) -> np.ndarray:
        """The background (or another reduced map ``of``) on ``image[rows, cols]`` at full size, bilinear."""
        small = self.small if of is None else of
        r0, wr = _linear(rows, self.shape[0], small.shape[0])
        c0, wc = _linear(cols, self.shape[1], small.shape[1])
        # separable, what map_coordinates(order=1) gives: columns on the few reduced rows needed, then rows by whole rows
        if not len(r0) or not len(c0):
            return np.zeros((len(r0), len(c0)), np.float32)
        band = small[r0[0] : min(r0[-1] + 2, small.shape[0])]
        c1 = np.minimum(c0 + 1, small.shape[1] - 1)
        band = band[:, c0] * (1 - wc) + band[:, c1] * wc
        r0 = r0 - r0[0]
        r1 = np.minimum(r0 + 1, len(band) - 1)
        out = band[r0]
        out *= (1 - wr)[:, None]
        out += band[r1] * wr[:, None]
        return out.astype(np.float32, copy=False)

    def full(self) -> np.ndarray:
        return self.crop(slice(None), slice(None))


def _linear(where: slice, full: int, reduced: int) -> tuple[np.ndarray, np.ndarray]:
    """For the full-size pixels ``where`` of a side of ``full`` pixels: the reduced pixel below each and its weight.

    Pixel centres map as in map_coordinates (``(i + 0.5) * reduced / full - 0.5``), clamped to the edge pixels.
    """
    i = np.arange(*where.indices(full), dtype=np.float32)
    x = np.clip((i + 0.5) * np.float32(reduced / full) - 0.5, 0, reduced - 1)
    below = np.minimum(x.astype(np.intp), max(reduced - 2, 0))
    return below, (x - below).astype(np.float32)
