"""Object kinds and sizes, estimated from the images themselves (no labels).

Two kinds of structure need different starts: ``"blobs"`` (compact objects:
nuclei, cells, mitochondria) and ``"lines"`` (vessels, filaments, ER,
membranes). Each start needs a size: the typical diameter of a blob, or the
typical width of a line. Both are estimated here from normalised images with
bright objects, in the way Cellpose estimates a diameter before segmenting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import hessian_matrix, peak_local_max
from skimage.transform import rescale

from ..config import KINDS, Config
from .blobs import blob_start
from .field import out_of_field
from .lines import first_line_mask, line_width
from .reduce import grey_opening, spread
from .scale import SAME, TRUSTED, scale_factor

__all__ = ["KINDS", "blob_diameter", "own_diameter", "folder_diameter", "detect_kind", "elongation", "estimate_size", "resolve_objects", "Objects", "image_scale", "FALLBACK_SIZE"]

_SIGMAS = np.geomspace(1.0, 16.0, 12)  # scales of the blob search, in pixels of the reduced image


def _blob_peaks(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale (full-size pixels) and strength of the bright-blob peaks of the scale-normalised Hessian determinant.

    The determinant is near zero on lines (one curvature is zero), so thin
    membranes and vessels do not pass for blobs; ``trace < 0`` keeps bright
    blobs only.
    """
    small = rescale(image, factor, anti_aliasing=True) if factor < 1 else image
    responses = []
    for s in _SIGMAS:
        hrr, hrc, hcc = hessian_matrix(small, s, order="rc", use_gaussian_derivatives=False)
        det = hrr * hcc - hrc**2
        responses.append(np.where((hrr + hcc < 0) & (det > 0), s**4 * det, 0.0))
    stack = np.stack(responses)
    best = stack.max(0)
    if not best.any():
        return np.empty(0), np.empty(0)
    peaks = peak_local_max(best, min_distance=2, threshold_rel=0.2)
    scale = _SIGMAS[stack.argmax(0)[peaks[:, 0], peaks[:, 1]]] / factor
    return scale, best[peaks[:, 0], peaks[:, 1]]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][np.searchsorted(cumulative, 0.5)])


def _doh_diameter(image: np.ndarray) -> float:
    """Strength-weighted median blob diameter, searched coarse (x 1/4) and, for small blobs, at full size."""
    diameter = float("nan")
    for factor in (0.25, 1.0):
        if factor < 1 and min(image.shape) * factor < 32:
            continue
        scale, strength = _blob_peaks(image, factor)
        if scale.size == 0:
            continue
        diameter = 2 * np.sqrt(2) * _weighted_median(scale, strength)  # a disk of radius r peaks at sigma = r / sqrt(2)
        if diameter >= 22 or factor == 1.0:  # 22 px is 2 px at a quarter size: below that, look again at full size
            break
    return diameter


def blob_diameter(images: Sequence[np.ndarray], *, max_images: int = 12) -> float:
    """Typical diameter of the bright blobs in ``images`` (median over images), in pixels.

    Two passes of a Hessian-determinant scale search: the first finds the
    scale of whatever blob-like texture is strongest; a grey opening at a
    third of that diameter then removes thin bright lines and fine texture
    (membranes, cristae), and the second pass measures the objects that
    remain. Nuclei are measured to within ~10 %; mitochondria in EM come
    out at their short axis.

    Parameters
    ----------
    images : sequence of (M, N) float ndarray
        Normalised, objects bright.
    max_images : int
        At most this many images (evenly spaced) are measured.

    Returns
    -------
    diameter : float
        In pixels; ``nan`` if no blob is found in any image.
    """
    sizes = []
    for image in spread(images, max_images):
        image = np.asarray(image, np.float32)
        first = _doh_diameter(image)
        if np.isfinite(first):
            sizes.append(_doh_diameter(grey_opening(image, first / 3)))
    sizes = [s for s in sizes if np.isfinite(s)]
    return float(np.median(sizes)) if sizes else float("nan")


def _width(mask: np.ndarray, *, min_area: int = 9) -> float:
    """Area-weighted median of twice the largest inscribed radius of the regions of ``mask``: touching blobs count once each."""
    regions, n = ndi.label(mask)
    if n == 0:
        return float("nan")
    area = np.bincount(regions.ravel())[1:].astype(float)
    radius = np.asarray(ndi.maximum(ndi.distance_transform_edt(mask), regions, np.arange(1, n + 1)))
    keep = area >= min_area
    if not keep.any():
        return float("nan")
    return _weighted_median(2 * radius[keep], area[keep])


_WIDE = 1.15  # nuclei are ~15 % longer than wide: twice the largest inscribed radius is the short axis


def own_diameter(oriented: np.ndarray) -> float:
    """The typical blob diameter of one image, in pixels: a scale search, then the width of the objects its start finds.

    The Hessian scale search (:func:`igtt.starts.kinds.blob_diameter`)
    takes a clump of touching nuclei for one large blob (BBBC039: 51-66 px
    for 27-px nuclei); the start made at that size finds the nuclei, and
    twice their largest inscribed radius (x1.15, nuclei are oval) counts a
    clump's nuclei one by one. Estimated over true median diameters:
    BBBC039 p10-p90 0.99-1.13 (scale search alone: 1.04-1.15, max 2.5),
    nuclei_mixed 0.94-1.08 (0.91-1.30), dsb2018 0.88-1.37 (0.89-1.52).

    Parameters
    ----------
    oriented : (M, N) float ndarray
        Normalised, objects bright.

    Returns
    -------
    diameter : float
        ``nan`` where no blob is found.
    """
    first = blob_diameter([oriented])
    if not np.isfinite(first):
        return first
    width = _width(blob_start(oriented, first).mask)
    return width * _WIDE if np.isfinite(width) else first


def folder_diameter(sizes: Sequence[float]) -> float:
    """The folder's blob diameter: the median of the images' own (``nan`` where none was measured); any order gives the same."""
    sizes = np.asarray([s for s in sizes if s is not None and np.isfinite(s)], float)
    return float(np.median(sizes)) if sizes.size else float("nan")


_THIN = 20.0  # area-weighted elongation above which a first line mask is made of lines, not blobs
_WALLS = 0.3  # lines covering more of the field than this are walls between compartments (EM membranes)


def elongation(mask: np.ndarray, *, min_area: int = 10) -> float:
    """Area-weighted median over connected regions of ``area / (pi * r^2)``, r the largest inscribed radius.

    About 1 for disks and 2-3 for ellipses; a line of length L and width w
    gives ~4L / (pi w), tens to thousands for vessels and networks.
    ``nan`` for a mask without regions of ``min_area`` pixels.
    """
    regions, n = ndi.label(mask)
    if n == 0:
        return float("nan")
    area = np.bincount(regions.ravel())[1:].astype(float)
    radius = ndi.maximum(ndi.distance_transform_edt(mask), regions, np.arange(1, n + 1))
    keep = area >= min_area
    if not keep.any():
        return float("nan")
    return _weighted_median((area / (np.pi * np.maximum(radius, 0.5) ** 2))[keep], area[keep])


def detect_kind(images: Sequence[np.ndarray], *, max_images: int = 6) -> str:
    """``"blobs"``, ``"lines"`` or ``"compartments"``: which kind of structure the images hold, decided without labels.

    A first line mask (top-hat at a generous width, hysteresis) is taken on a
    few images. If its regions are compact (area-weighted elongation below
    20: nuclei 2-13), the objects are blobs. If they are long (vessels,
    filaments, ER: 70-120; EM membranes: over 1000), the objects are lines,
    unless the lines cover more than 30 % of the field: then they are the
    walls between compartments (membranes in EM cover ~47 %, vessels, ER and
    filament networks 8-14 %) and the objects are the compartments' content.
    Medians over the images decide.

    Parameters
    ----------
    images : sequence of (M, N) float ndarray
        Normalised, objects bright.
    max_images : int
        At most this many images (evenly spaced) are looked at.
    """

    elongations, covers = [], []
    for image in spread(images, max_images):
        image = np.asarray(image, np.float32)
        inside = ~out_of_field(image)
        mask = first_line_mask(image, inside)
        elongations.append(elongation(mask))
        covers.append(mask[inside].mean() if inside.any() else 0.0)
    thin = np.nanmedian(elongations) if np.isfinite(elongations).any() else 0.0
    if thin < _THIN:
        return "blobs"
    return "compartments" if np.median(covers) > _WALLS else "lines"


FALLBACK_SIZE = {"blobs": 20.0, "lines": 8.0, "compartments": 8.0}  # when nothing can be measured (e.g. images without structure)


def estimate_size(oriented: list[np.ndarray], kind: str) -> float:
    """Typical blob diameter (the median of the images' own, :func:`own_diameter`) or width of the wider lines (or walls), in pixels."""
    if kind in ("lines", "compartments"):
        return line_width(oriented)
    return folder_diameter([own_diameter(np.asarray(o, np.float32)) for o in oriented])


MIN_SIDE = 16  # images narrower than this are segmented, but not used to decide the kind or size of objects


class Objects(NamedTuple):
    """What :func:`resolve_objects` decided: the kind, the folder's size, and each image's own blob size (or None)."""

    kind: str
    size: float | None
    own: list[float] | None = None


def resolve_objects(oriented: Sequence[np.ndarray], config: Config) -> Objects:
    """The kind of object and its size: the config's where given, else estimated from the images.

    ``oriented``: normalised images with bright objects. The size is None
    where the kind's recipe needs none; where it cannot be measured (no
    structure), :data:`FALLBACK_SIZE`. Estimated blob sizes are the median
    of every image's own (:func:`own_diameter`), also returned, one per
    image (``nan`` for slivers), so that nobody measures them twice. Give
    the images in an order that does not depend on the caller
    (:func:`igtt.starts.scale.content_order`): the kind is decided on an
    even sample of them.
    """
    measured = [o for o in oriented if min(o.shape) >= MIN_SIDE]  # a sliver says nothing about objects
    kind = config.objects if config.objects != "auto" else (detect_kind(measured) if measured else "blobs")
    resolved = config.for_kind(kind)
    if not (resolved.start == "objects" or resolved.subtract_background):
        return Objects(kind, None)
    size, own = config.object_size, None
    if size is None and measured and kind == "blobs":
        own = [own_diameter(np.asarray(o, np.float32)) if min(o.shape) >= MIN_SIDE else float("nan") for o in oriented]
        size = folder_diameter(own)
    elif size is None and measured:
        size = estimate_size(measured, kind)
    return Objects(kind, float(size) if size is not None and np.isfinite(size) else FALLBACK_SIZE[kind], own)


def image_scale(
    oriented: np.ndarray, kind: str, size: float | None, *, step: int = 1, own: float | None = None, resample: bool = True
) -> tuple[float | None, float]:
    """An image's object size and the factor to resample it by, so that its blobs have the folder's ``size``.

    Blobs only, measured on their own (:func:`own_diameter`) and resampled
    by :func:`igtt.starts.scale.scale_factor`; the size returned is the one
    the resampled image's objects have. An image of smaller objects (not
    enlarged) gets its own size, and so does a large image: ``oriented``
    may be the image at every ``step``-th pixel, and such an image is not
    resampled. ``resample=False``: the rule of models saved
    before igtt resampled (format <= 3), for which they were trained. Lines and walls keep the folder's width (factor 1).
    ``own``: the image's own size, if already measured (full-size pixels).
    """
    if kind != "blobs" or size is None or min(oriented.shape) < MIN_SIDE:
        return size, 1.0
    if not resample:  # format <= 3: the scale search's own size where far off the folder's, as it was trained
        own = blob_diameter([oriented]) * step
        return (float(own) if np.isfinite(own) and (own * 1.3 < size or own > 2.5 * size) else size), 1.0
    own = own_diameter(np.asarray(oriented, np.float32)) * step if own is None else own
    factor = scale_factor(own, size)
    if (step > 1 and factor != 1) or (factor == 1 and np.isfinite(own) and own * SAME < size <= own * TRUSTED):
        return float(own), 1.0
    return size, factor
