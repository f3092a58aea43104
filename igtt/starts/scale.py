"""One object scale for a folder of mixed magnifications: each image's own blob size, and the factor that brings it to the folder's.

A folder of nuclei imaged at 10x and at 60x holds 10-px and 60-px nuclei.
One size for the folder cuts the large ones into chromatin fragments and
merges the small ones; so, as Cellpose does with its diameter, every blob
image is measured on its own (:func:`igtt.starts.kinds.own_diameter`) and
an image of larger objects is shrunk until they have the folder's size
(the median of the images' own, :func:`scale_factor`) before the start is
made, the network trains on it and predicts it; the probability comes back
at the image's own size. An image of smaller objects is not enlarged: it
keeps its pixels and gets its own size for its start and background.

Measured on dsb2018_train_fluo (62 images, nuclei 7 to 94 px across; the
folder's size 32 px): shrinking and enlarging to the folder's size gave the
network 81.9 Dice (start 86.6): enlarged dim fields of small nuclei had the
network take their blurred fibres for nuclei (0.89 -> 0.41 on one);
shrinking only gives 87.7 (the start 86.6, before this module 87.2).
An own size trusted up to 4x off instead of 3x shrank one more image (huge
nuclei, 105 px against the folder's 32) and cost the folder 1.7 (86.4
against 88.1, 1 torch thread): that image was better, others worse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.transform import rescale, resize


__all__ = ["scale_factor", "resample", "resample_labels", "resize_mask", "content_order", "SAME", "UP", "TRUSTED"]

SAME = 1.25  # sizes within this factor of the folder's are the folder's (no resampling: no interpolation blur)
UP = 1.0  # enlarge no image (enlarged fields of small dim nuclei: the network took blurred fibres for nuclei)
TRUSTED = 3.0  # an own size further off than this is not trusted (an empty field measures its glow: 181-260 px for 27-px nuclei)


def scale_factor(own: float, size: float) -> float:
    """The resampling that brings an image whose blobs measure ``own`` to the folder's ``size`` (1: none).

    1 where the two are within :data:`SAME` of each other, where the
    image's objects are the smaller (no enlarging, :data:`UP`), and where
    the own size is not trusted (``nan``, or more than :data:`TRUSTED`
    times off: an empty field or one big glow).
    """
    if not (np.isfinite(own) and np.isfinite(size) and own > 0):
        return 1.0
    factor = size / own
    if 1 / SAME <= factor <= SAME or not 1 / TRUSTED <= factor <= TRUSTED or factor > UP:
        return 1.0
    return float(factor)


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` scaled by ``factor`` (bilinear, smoothed first when shrinking) as float32; the image itself for 1."""
    if factor == 1:
        return image
    out = rescale(np.asarray(image, np.float32), factor, order=1, anti_aliasing=factor < 1, preserve_range=True)
    return out.astype(np.float32, copy=False)


def resample_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Integer labels (hints) brought to ``shape`` by nearest neighbour; the labels themselves where the shape is theirs."""
    if labels is None or labels.shape == tuple(shape):
        return labels
    return resize(labels, shape, order=0, preserve_range=True, anti_aliasing=False).astype(labels.dtype)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool mask brought to ``shape`` (bilinear, then over one half)."""
    if mask.shape == tuple(shape):
        return mask
    return resize(mask.astype(np.float32), shape, order=1) > 0.5


def content_order(images: Sequence[np.ndarray]) -> list[int]:
    """An order of ``images`` that depends on their pixels only: the same folder in any file order trains the same.

    Sorted by shape and a hash of an evenly strided sample of each image
    (at most ~64k pixels); identical images keep their given order, which
    makes no difference to anything computed from them.
    """
    import hashlib

    def key(image: np.ndarray) -> tuple:
        step = max(1, int(np.sqrt(image.size / 65536)))
        sample = np.ascontiguousarray(image[::step, ::step])
        return (image.shape, hashlib.blake2b(sample.tobytes(), digest_size=16).hexdigest())

    keys = [key(np.asarray(im)) for im in images]
    return sorted(range(len(images)), key=keys.__getitem__)
