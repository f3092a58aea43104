"""Validation and normalisation of input images: one dtype policy, applied once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["as_image_list", "intensity_range", "noise_level", "rescale", "normalize", "orient", "detect_polarity", "per_image", "restore_shape", "FOREGROUNDS", "RANGE_PERCENTILES"]

FOREGROUNDS = ("bright", "dark", "auto")

RANGE_PERCENTILES = (0.5, 99.8)  # the grey levels that map to 0 and 1 (intensity_range)
# objects too few to reach a percentile (one nucleus in a large field): the percentile lies within the noise (under
# NOISE_END noise widths from the median) while the TAIL_PIXELS brightest (darkest) stand out by over FAR_END widths;
# the range then ends at those. No image of the dev sets comes near (their top 0.2 % within the noise: the 100
# brightest at most 5.3 widths out); bbbc039's empty fields stay as they were (2.5 and 3.5).
NOISE_END, FAR_END, TAIL_PIXELS = 4.0, 10.0, 100


def as_image_list(images, *, name: str = "images") -> list[np.ndarray]:
    """Check ``images`` and return a list of 2D arrays.

    Accepts one 2D array, a 3D stack (planes, rows, cols) or a sequence of 2D
    arrays of any sizes. A 3D array whose last axis is short (at most 4) and
    shorter than its first, such as (64, 64, 2) or an RGB image, is refused as
    channels-last rather than read as many thin planes; integer, bool or float dtypes. The arrays keep their
    dtype (no copy): a 16-bit gigapixel image stays 16-bit until it is
    scaled tile by tile.

    Raises
    ------
    TypeError
        An element is not a numeric array.
    ValueError
        The list is empty, an image is not 2D (an RGB image needs a channel
        chosen first), is empty, or holds NaN or inf.
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            images = [images]
        elif images.ndim == 3 and not (images.shape[-1] <= 4 and images.shape[0] > images.shape[-1]):
            images = list(images)
        elif images.ndim == 3:
            raise ValueError(
                f"{name} has shape {images.shape}, which looks like a {images.shape[-1]}-channel image "
                "(RGB or channels last), not a stack of planes; choose one channel first, e.g. image[..., 0], "
                "or pass a list of 2D planes"
            )
        else:
            raise ValueError(f"{name} must be 2D or a 3D stack of planes, got shape {images.shape}")
    if not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        raise TypeError(f"{name} must be an array or a sequence of arrays, got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError(f"{name} is empty: give at least one image")
    out = []
    for i, image in enumerate(images):
        label = f"{name}[{i}]"
        if not isinstance(image, np.ndarray):
            try:
                image = np.asarray(image)
            except Exception as exc:  # pragma: no cover - exotic objects
                raise TypeError(f"{label} is not an array: {exc}") from None
        if image.dtype.kind not in "biuf":
            raise TypeError(f"{label} has dtype {image.dtype}; expected an integer, bool or float image")
        if image.ndim == 3 and image.shape[-1] in (3, 4):
            raise ValueError(
                f"{label} has shape {image.shape}, which looks like an RGB(A) image; "
                "choose one channel first, e.g. image[..., 0]"
            )
        if image.ndim != 2:
            raise ValueError(f"{label} must be 2D (rows, cols), got shape {image.shape}")
        if image.size == 0:
            raise ValueError(f"{label} is empty (shape {image.shape})")
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ValueError(f"{label} contains NaN or inf values")
        out.append(image)
    return out


def intensity_range(
    image: np.ndarray, *, low: float = RANGE_PERCENTILES[0], high: float = RANGE_PERCENTILES[1], sparse: bool = True
) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles of ``image``: the grey levels that map to 0 and 1.

    Percentiles make the scaling robust to hot pixels and saturated regions.
    Where objects are too few to reach a percentile (one nucleus in a large
    field), the range ends at the 100th brightest (darkest) pixel instead
    (:data:`NOISE_END`, :data:`FAR_END`); ``sparse=False``: the percentiles
    alone (the scaling a BioImage.IO package declares).
    They are taken on a subsample of at most about 4 million pixels: the same
    to a fraction of a grey level, and no sorted copy of a gigapixel image.
    A nearly constant image falls back to its full range; a constant one
    gives ``lo == hi``.
    """
    flat = np.asarray(image).ravel()
    sample = flat[:: max(1, flat.size // 4_000_000)].astype(np.float32)
    lo, hi = np.percentile(sample, [low, high])
    if hi <= lo:
        lo, hi = flat.min(), flat.max()
    elif sparse and sample.size > 10 * TAIL_PIXELS:
        lo, hi = _sparse_ends(sample, lo, hi)
    return float(lo), float(hi)


def _sparse_ends(sample: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """``lo`` and ``hi``, each moved out to the :data:`TAIL_PIXELS`-th darkest / brightest pixel where the
    percentile lies within the noise but those pixels stand far out of it: a few objects in a large field are
    not clipped into the noise, and the noise is not stretched over the whole range."""
    median, width = noise_level(sample)
    if width == 0:
        return lo, hi
    if hi - median < NOISE_END * width and (top := np.partition(sample, -TAIL_PIXELS)[-TAIL_PIXELS]) - median > FAR_END * width:
        hi = top
    if median - lo < NOISE_END * width and median - (bottom := np.partition(sample, TAIL_PIXELS - 1)[TAIL_PIXELS - 1]) > FAR_END * width:
        lo = bottom
    return lo, hi


def noise_level(values: np.ndarray, *, most: int | None = 100_000) -> tuple[float, float]:
    """The median of ``values`` and the width of their noise (1.4826 median absolute deviations), from at most
    about ``most`` of them (every n-th; None: all): enough to scale an image, not to the grey level."""
    few = np.asarray(values).ravel()
    few = few[:: max(1, few.size // most)] if most else few
    median = float(np.median(few))
    return median, 1.4826 * float(np.median(np.abs(few - median)))


def rescale(image: np.ndarray, lo: float, hi: float, *, invert: bool = False) -> np.ndarray:
    """Map ``lo`` to 0 and ``hi`` to 1, clip, and optionally invert: a new float32 array.

    ``lo >= hi`` (a constant image) gives zeros.
    """
    if hi <= lo:
        return np.zeros(np.shape(image), np.float32)
    out = np.asarray(image).astype(np.float32)  # one new array, then in place
    out -= np.float32(lo)
    out *= np.float32(1 / (hi - lo))
    np.clip(out, 0, 1, out=out)
    if invert:
        np.subtract(1.0, out, out=out)
    return out


def normalize(image: np.ndarray, *, low: float = RANGE_PERCENTILES[0], high: float = RANGE_PERCENTILES[1]) -> np.ndarray:
    """Scale ``image`` so its ``low`` and ``high`` percentiles map to 0 and 1, then clip.

    Parameters
    ----------
    image : (M, N) ndarray
    low, high : float
        Percentiles, ``0 <= low < high <= 100``.

    Returns
    -------
    out : (M, N) float32 ndarray in [0, 1]; zeros for a constant image.
    """
    return rescale(image, *intensity_range(image, low=low, high=high))


def detect_polarity(images: Sequence[np.ndarray]) -> str:
    """Guess whether objects are ``"bright"`` or ``"dark"`` from normalised images.

    Microscopy objects are usually the minority of pixels and sit in the long
    tail of the histogram: a positively skewed set (a long bright tail) has
    bright objects. The skewness is pooled over all images.
    """
    from scipy.stats import skew

    values = np.concatenate([np.asarray(im, np.float32).ravel()[::7] for im in images])
    if values.min() == values.max():
        return "bright"
    return "bright" if skew(values.astype(np.float64)) >= 0 else "dark"


def orient(
    images: Sequence[np.ndarray], foreground: str, ranges: Sequence[tuple[float, float] | None] | None = None
) -> tuple[list[np.ndarray], str]:
    """Normalise each image and invert dark-object images, so objects are always bright.

    ``ranges`` gives each image's grey levels for 0 and 1 (``None``: its own
    percentiles). Returns the oriented images and the polarity used (``auto``
    resolved).
    """
    if foreground not in FOREGROUNDS:
        raise ValueError(f"foreground must be one of {FOREGROUNDS}, got {foreground!r}")
    ranges = ranges or [None] * len(images)
    normed = [normalize(im) if r is None else rescale(im, *r) for im, r in zip(images, ranges)]
    if foreground == "auto":
        foreground = detect_polarity(normed)
    if foreground == "dark":  # the one way to flip polarity (rescale's); an image with nothing in range stays empty
        normed = [rescale(im, 0.0, 1.0, invert=True) if im.max() > 0 else im for im in normed]
    return normed, foreground


def per_image(ranges, n: int) -> list:
    """``ranges`` as one (lo, hi) or None per image."""
    if ranges is None or (len(ranges) in (2, 3) and np.isscalar(ranges[0])):
        return [ranges] * n
    if len(ranges) != n:
        raise ValueError(f"ranges: one (lo, hi) for all images or one per image, got {len(ranges)} for {n} images")
    return list(ranges)


def restore_shape(values: list[np.ndarray], like):
    """One array for one image, a stack for a stack, a list for a list."""
    if isinstance(like, np.ndarray):
        return values[0] if like.ndim == 2 else np.stack(values)
    return values
