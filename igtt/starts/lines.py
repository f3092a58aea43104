"""The start for lines (vessels, filaments, ER): a white top-hat at the line width, then hysteresis.

Every function takes a normalised image with bright objects (see
:func:`igtt.starts.images.orient`); ``inside`` is the field of view
(:func:`igtt.starts.field.out_of_field`), and pixels outside it get no label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage.exposure import equalize_adapthist
from skimage.filters import apply_hysteresis_threshold, gaussian, threshold_otsu
from skimage.morphology import disk, skeletonize, white_tophat

from .field import out_of_field
from .labels import StartLabels
from .reduce import spread

__all__ = ["line_response", "line_start", "line_width", "tophat_radius", "first_line_mask"]

_FIRST_RADIUS = 10  # the first pass, before the width is known: lines up to ~20 px wide
_HIGH, _LOW = 1.0, 0.75  # hysteresis levels, relative to Otsu's threshold of the response in the field
_BACKGROUND = 0.4  # confident background: response below 40 % of Otsu's threshold


def tophat_radius(width: float) -> int:
    """The top-hat disk radius for lines whose widest are ``width`` pixels (0.6 x width, at least 2)."""
    return max(2, int(round(0.6 * width)))


def line_response(image: np.ndarray, radius: int) -> np.ndarray:
    """Local contrast equalisation (CLAHE), a 1-pixel Gaussian, then a white top-hat with a disk of ``radius``.

    The top-hat keeps bright structures narrower than the disk and drops
    everything wider: background, illumination, the optic disc's glow.
    """
    image = np.asarray(image, np.float32)
    equalised = equalize_adapthist(np.clip(image, 0, 1), clip_limit=0.01) if np.ptp(image) > 0 else image
    return white_tophat(gaussian(equalised, 1.0), disk(radius)).astype(np.float32)


def _levels(response: np.ndarray, inside: np.ndarray | None) -> float:
    values = response[inside] if inside is not None else response.ravel()
    return float(threshold_otsu(values)) if values.size and np.ptp(values) > 0 else np.inf


def _mask(response: np.ndarray, otsu: float, inside: np.ndarray | None) -> np.ndarray:
    if not np.isfinite(otsu):
        return np.zeros(response.shape, bool)
    mask = apply_hysteresis_threshold(response, _LOW * otsu, _HIGH * otsu)
    return mask & inside if inside is not None else mask


def first_line_mask(image: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """A line mask before the width is known: top-hat radius 10 (lines up to ~20 px wide), hysteresis."""
    response = line_response(image, _FIRST_RADIUS)
    return _mask(response, _levels(response, inside), inside)


def line_width(images: Sequence[np.ndarray], *, max_images: int = 8) -> float:
    """The width of the wider lines (90th percentile over centre-line pixels), in pixels.

    A first line mask at a generous top-hat radius; twice the distance to
    its edge along its centre lines gives the local width of every line.

    Returns
    -------
    width : float
        ``nan`` if no line is found.
    """
    widths = []
    for image in spread(images, max_images):
        mask = first_line_mask(image, ~out_of_field(image))
        if mask.any():
            widths.append(2 * ndi.distance_transform_edt(mask)[skeletonize(mask)])
    return float(np.percentile(np.concatenate(widths), 90)) if widths else float("nan")


def line_start(image: np.ndarray, width: float, *, inside: np.ndarray | None = None) -> StartLabels:
    """The line start: hysteresis on the top-hat response; the strong part as foreground.

    ``mask``: hysteresis between 0.75 and 1 times Otsu's threshold of the
    response in the field (weak line pixels joined to strong ones).
    Foreground: the mask where the response is above Otsu's threshold.
    Background: response below 40 % of it, and not next to the mask. Faint
    thin lines sit in between and stay unlabelled: as background they taught
    the network that thin vessels are background.
    """
    response = line_response(image, tophat_radius(width))
    otsu = _levels(response, inside)
    mask = _mask(response, otsu, inside)
    foreground = mask & (response > _HIGH * otsu)
    background = (response < _BACKGROUND * otsu) & ~ndi.binary_dilation(mask)
    if inside is not None:
        background &= inside
    return StartLabels(mask, foreground, background)
