"""The start for blobs (nuclei, cells, mitochondria): background at the object size, then a cut per object.

Every function takes a normalised image with bright objects (see
:func:`igtt.starts.images.orient`) and the typical object diameter in pixels
(:func:`igtt.starts.kinds.blob_diameter`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_li
from skimage.morphology import remove_small_objects

from .background import Background
from .labels import StartLabels

__all__ = ["blob_response", "blob_start", "per_object_cut"]

_PEAK_FRACTION = 0.3  # each object is cut at 30 % of its own peak response


def blob_response(image: np.ndarray, diameter: float, *, background: Background | None = None) -> np.ndarray:
    """Objects above their background, at the reduced scale of :class:`Background`, brought to full size.

    Structures larger than ~1.5 objects belong to the background: what is
    left are blobs of about the size asked for, and finer bright structure.
    """
    background = background or Background(image, diameter)
    return background.crop(slice(None), slice(None), of=background.objects - background.small)


def per_object_cut(response: np.ndarray, *, fraction: float = _PEAK_FRACTION) -> np.ndarray:
    """Candidates above Li's threshold, each cut at ``fraction`` of its own peak (95th percentile).

    A global threshold puts dim objects' edges inside them and bright ones'
    outside; a cut relative to each object's own peak places every edge at
    the same relative height (BBBC039 Dice 88.9 -> 95.0, nuclei_mixed
    84.4 -> 85.8 over Li alone).
    """
    valid = response[np.isfinite(response)]
    if valid.size == 0 or np.ptp(valid) == 0:
        return np.zeros(response.shape, bool)
    candidates = response > threshold_li(valid)
    regions, n = ndi.label(candidates)
    if n == 0:
        return candidates
    peaks = ndi.labeled_comprehension(response, regions, np.arange(1, n + 1), lambda v: np.percentile(v, 95), float, 0)
    level = np.concatenate([[np.inf], fraction * np.asarray(peaks)])[regions]
    return candidates & (response > level)


def blob_start(
    image: np.ndarray, diameter: float, *, inside: np.ndarray | None = None, background: Background | None = None
) -> StartLabels:
    """The blob start: per-object cut of the background-subtracted image, labels tight on both sides.

    The mask's 1-pixel rim on either side is left unlabelled; everything
    else carries a label. Tight labels matter: any unlabelled skirt around
    the objects gets absorbed into the foreground by the network (measured:
    nuclei_mixed 86.3 with tight labels, 78.4 with a wide unlabelled band).

    Parameters
    ----------
    image : (M, N) float ndarray
        Normalised, objects bright.
    diameter : float
        Typical object diameter in pixels.
    inside : (M, N) bool ndarray, optional
        The field of view; pixels outside it get no label.
    background : Background, optional
        The image's background, if already computed.
    """
    response = blob_response(image, diameter, background=background)
    mask = per_object_cut(response)
    mask = remove_small_objects(mask, max_size=int(np.pi * (diameter / 6) ** 2) - 1, connectivity=2)
    return StartLabels.tight(mask, inside)
