"""The field of view: large flat regions at the object end of the range (a microscope's round field, a scanner's margin).

Starts never label them, predictions never call them foreground, and very
large images are judged on a strided view (:func:`field_step`), so memory
stays bounded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import remove_small_objects

__all__ = ["out_of_field", "field_step", "expand_mask"]


def field_step(shape: tuple[int, ...], limit: int = 2048) -> int:
    """The stride that brings the longer side of ``shape`` to at most ``limit`` pixels."""
    return -(-max(shape) // limit)


def expand_mask(small: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
    """Undo a ``[::step, ::step]`` subsampling of a mask by repeating pixels, cropped to ``shape``."""
    if step == 1:
        return small
    full = np.repeat(np.repeat(small, step, axis=0), step, axis=1)
    return full[: shape[0], : shape[1]]


def out_of_field(
    image: np.ndarray, *, tolerance: float = 0.05, flatness: float = 0.02, min_fraction: float = 0.05
) -> np.ndarray:
    """Large flat regions at the object end of the intensity range: outside the field of view.

    A circular field stop, the black corners of a fundus photograph or the
    zero padding of a stitched image become a bright, flat region once dark
    objects are inverted, and would be taken for one huge object. Such a
    region is neither object nor background, so it gets no label.

    Parameters
    ----------
    image : (M, N) float ndarray
        Normalised to [0, 1], objects bright.
    tolerance : float
        How close to 1 a pixel must be.
    flatness : float
        Largest local standard deviation (9x9 window) of a flat pixel.
    min_fraction : float
        Smallest connected region, as a fraction of the image, to count.

    Returns
    -------
    mask : (M, N) bool ndarray
        True outside the field, grown by 4 pixels to cover its rim.
    """
    step = field_step(image.shape)
    if step > 1:  # very large images: decide on a strided view, then repeat back (bounded memory)
        small = out_of_field(image[::step, ::step], tolerance=tolerance, flatness=flatness, min_fraction=min_fraction)
        return expand_mask(small, step, image.shape)
    mean = ndi.uniform_filter(image, 9)
    std = np.sqrt(np.maximum(ndi.uniform_filter(image * image, 9) - mean * mean, 0))
    candidate = (std < flatness) & (image >= 1 - tolerance)
    mask = remove_small_objects(candidate, max_size=int(np.ceil(min_fraction * image.size)) - 1)
    if not mask.any():
        return mask
    # close small gaps (erosion treats the image border as inside), then grow over the rim
    mask = ndi.binary_erosion(ndi.binary_dilation(mask, iterations=3), iterations=3, border_value=1)
    return ndi.binary_dilation(mask, iterations=4)
