"""Where the pseudo-labels start: classical, label-free guesses of foreground and background.

Every function takes one normalised image with bright objects (see
:func:`igtt.images.orient`) and returns two boolean maps, ``foreground`` and
``background``; pixels in neither are unlabelled and do not count in the loss.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import remove_small_objects

from .field import out_of_field

__all__ = [
    "start_labels",
    "smooth",
    "local_contrast",
    "contrast_labels",
    "otsu_labels",
    "black_labels",
]


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of width ``sigma`` that stays fast for wide kernels.

    Past ``sigma = 8`` the image is block-averaged down, blurred with the
    reduced width and interpolated back: a background estimate needs no
    finer detail than its own width.
    """
    image = image.astype(np.float32, copy=False)
    factor = int(sigma // 4)
    if factor < 2:
        return ndi.gaussian_filter(image, sigma, mode="reflect")
    rows, cols = image.shape
    pr, pc = -rows % factor, -cols % factor
    padded = np.pad(image, ((0, pr), (0, pc)), mode="reflect" if pr < rows and pc < cols else "edge")
    small = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).mean((1, 3))
    small = ndi.gaussian_filter(small, sigma / factor, mode="reflect")
    # block centres sit at (factor - 1) / 2 in full-size coordinates
    r = (np.arange(rows) - (factor - 1) / 2) / factor
    c = (np.arange(cols) - (factor - 1) / 2) / factor
    return ndi.map_coordinates(small, np.meshgrid(r, c, indexing="ij"), order=1, mode="nearest").astype(np.float32)


def local_contrast(
    image: np.ndarray, *, sigma: float | None = None, valid: np.ndarray | None = None
) -> np.ndarray:
    """The image minus a smooth background estimate (a wide Gaussian).

    Parameters
    ----------
    image : (M, N) float ndarray
    sigma : float, optional
        Width of the background; default ``min(M, N) / 16``.
    valid : (M, N) bool ndarray, optional
        Pixels the background is estimated from (a normalised convolution);
        the others do not pull it up or down.

    Returns
    -------
    contrast : (M, N) float32 ndarray
    """
    if sigma is None:
        sigma = max(4.0, min(image.shape) / 16)
    image = image.astype(np.float32)
    if valid is None:
        background = smooth(image, sigma)
    else:
        weight = smooth(valid.astype(np.float32), sigma)
        background = smooth(image * valid, sigma) / np.maximum(weight, 1e-6)
    return (image - background).astype(np.float32)


def contrast_labels(
    image: np.ndarray,
    *,
    sigma: float | None = None,
    high: float = 1.0,
    low: float = 0.0,
    min_size: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Confident foreground and background from the local z-score of the image.

    ``z = (image - local mean) / local standard deviation``, both Gaussian-
    weighted with width ``sigma``. Pixels with ``z > high`` are confident
    foreground, ``z < low`` confident background, the rest unlabelled, and so
    are pixels :func:`out_of_field`. Dividing by the local spread makes one
    rule serve dim and bright regions alike (a strict adaptive threshold).
    The local spread is floored at a quarter of the global one, the image
    is smoothed by a 1-pixel Gaussian first, and foreground specks
    smaller than ``min_size`` pixels are dropped, so noise in object-free
    regions does not pass for objects.

    Parameters
    ----------
    image : (M, N) float ndarray
        Normalised, objects bright.
    sigma : float, optional
        Default ``min(M, N) / 16``.
    high, low : float
        z-score limits of the confident classes.
    min_size : int
        Smallest connected foreground region kept, in pixels.
    """
    inside = ~out_of_field(image)
    if sigma is None:
        sigma = max(4.0, min(image.shape) / 16)
    image = ndi.gaussian_filter(image.astype(np.float32), 1.0)  # pixel noise must not pass for objects
    residual = local_contrast(image, sigma=sigma, valid=inside)
    weight = smooth(inside.astype(np.float32), sigma)
    variance = smooth(residual * residual * inside, sigma) / np.maximum(weight, 1e-6)
    # floor the local spread at a quarter of the global one: in a region with
    # no object at all, the local spread is noise and z would pass noise off
    floor = 0.25 * float(np.mean(residual[inside] ** 2)) if inside.any() else 0.0
    z = residual / np.sqrt(np.maximum(variance, floor) + 1e-8)
    foreground = remove_small_objects((z > high) & inside, max_size=max(min_size - 1, 0), connectivity=2)
    return foreground, (z < low) & inside


def otsu_labels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Otsu's threshold of the image: every pixel labelled."""
    if np.ptp(image) == 0:
        return np.zeros(image.shape, bool), np.zeros(image.shape, bool)
    fg = image > threshold_otsu(image)
    return fg, ~fg


def black_labels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All background, the paper's start."""
    return np.zeros(image.shape, bool), np.ones(image.shape, bool)


_STARTS = {"contrast": contrast_labels, "otsu": otsu_labels, "black": black_labels}


def start_labels(
    image: np.ndarray, *, start: str = "objects", kind: str = "blobs", size: float | None = None, background=None
):
    """The start named by ``Config.start`` for one image, as :class:`igtt.blobs.StartLabels`.

    Parameters
    ----------
    image : (M, N) float ndarray
        Normalised, objects bright.
    start : {"objects", "contrast", "otsu", "black"}
        ``objects``: the start of ``kind`` (:func:`igtt.blobs.blob_start`,
        :func:`igtt.lines.line_start`); the others as in :class:`igtt.Config`.
        Their mask is their confident foreground.
    kind : {"blobs", "lines"}
    size : float
        Blob diameter or line width in pixels (needed for ``objects``).
    background : igtt.blobs.Background, optional
        The image's background, if already computed (blobs).
    """
    from .blobs import StartLabels, blob_start
    from .lines import line_start

    if start == "objects":
        inside = ~out_of_field(image)
        if kind == "lines":
            return line_start(image, size, inside=inside)
        return blob_start(image, size, inside=inside, background=background)
    try:
        foreground, background = _STARTS[start](image)
    except KeyError:
        raise ValueError(f"start must be one of objects, {', '.join(_STARTS)}; got {start!r}") from None
    return StartLabels(foreground, foreground, background)
