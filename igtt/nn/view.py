"""How one image is predicted: resampled to the folder's object size, scaled for the network, and seen for the checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from skimage.transform import resize

from ..starts.field import field_step
from ..starts.images import intensity_range, rescale
from ..starts.scale import resample
from .network_input import NetworkInput

__all__ = ["ImageView", "view_image", "network_pixels", "at_image_size", "whole_scaling"]


class ImageView(NamedTuple):
    """One image as the network and the checks see it.

    Attributes
    ----------
    pixels : ndarray
        What the network reads: the image, resampled by ``factor`` (the image itself for 1).
    scaling : NetworkInput
        How ``pixels`` become network input.
    small : (M, N) float32 ndarray
        The oriented image at every ``step``-th pixel (<= 2048 px a side), for the checks.
    step : int
    size : float or None
        The object size in ``pixels``.
    factor : float
        The resampling (:func:`igtt.starts.scale.scale_factor`).
    """

    pixels: np.ndarray
    scaling: NetworkInput
    small: np.ndarray
    step: int
    size: float | None
    factor: float


def view_image(
    image: np.ndarray, range_, *, invert: bool, scale: Callable[[np.ndarray, int], tuple[float | None, float]], subtract: bool
) -> ImageView:
    """The :class:`ImageView` of ``image``.

    ``range_``: its grey levels for 0 and 1 (None: its percentiles);
    ``scale(small, step)`` gives the object size and resampling factor
    (:func:`igtt.starts.kinds.image_scale`); ``subtract``: the network sees
    the image minus its background at that size.
    """
    step = field_step(image.shape)
    lo, hi = intensity_range(image) if range_ is None else map(float, range_[:2])
    small = rescale(image[::step, ::step], lo, hi, invert=invert)
    size, factor = scale(small, step)
    pixels = resample(image, factor)
    scaling = NetworkInput.for_image(
        pixels, invert=invert, diameter=size if subtract else None, range=range_ if range_ is not None else (lo, hi)
    )
    return ImageView(pixels, scaling, small, step, size, factor)


def network_pixels(view: ImageView, *, mirror: bool = False) -> tuple[np.ndarray, Callable]:
    """What :func:`igtt.nn.infer.predict_tiled` reads of ``view``: its pixels and their scaling, tile by tile.

    ``mirror``: the pixels flipped left to right (a view, no copy), each tile
    scaled as the original pixels it shows (the background is not mirrored).
    """
    if not mirror:
        return view.pixels, view.scaling
    width = view.pixels.shape[1]

    def scaled(tile, rows, cols):
        return view.scaling(tile[:, ::-1], rows, slice(width - cols.stop, width - cols.start))[:, ::-1]

    return view.pixels[:, ::-1], scaled


def at_image_size(probability: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A probability map predicted on resampled pixels, brought back to the image's ``shape`` (bilinear)."""
    if probability.shape == tuple(shape):
        return probability
    return resize(probability, shape, order=1).astype(np.float32)


def whole_scaling(view: np.ndarray, *, invert: bool, diameter: float | None) -> tuple[float, float, float]:
    """``(lo, hi, gain)`` of a large image from its strided ``view``: its grey levels for 0 and 1 and its background gain."""
    lo, hi = intensity_range(view)
    scaling = NetworkInput.for_image(view, invert=invert, diameter=diameter if hi > lo else None, range=(lo, hi))
    return lo, hi, scaling.gain
