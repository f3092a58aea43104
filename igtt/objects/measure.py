"""Measurements of labelled objects: one row per object, as columns (scikit-image ``regionprops_table``)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops_table
from skimage.morphology import skeletonize

__all__ = ["BLOB_COLUMNS", "LINE_COLUMNS", "measure", "measure_blobs", "measure_lines"]

_PROPERTIES = ("label", "area", "centroid", "bbox", "equivalent_diameter_area", "eccentricity", "solidity")
_INTENSITY = ("intensity_mean", "intensity_min", "intensity_max")
BLOB_COLUMNS = (
    "label", "area", "centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2", "bbox-3",
    "equivalent_diameter_area", "eccentricity", "solidity", *_INTENSITY,
)
LINE_COLUMNS = ("label", "area", "skeleton_length", "branch_points", "end_points", "mean_width", *_INTENSITY)
_AROUND = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
_STEPS = ((None, 1.0), (0, 1.0), (1, np.sqrt(2)), (-1, np.sqrt(2)))  # right, down, down-right, down-left


def measure(labels: np.ndarray, image: np.ndarray | None = None, *, kind: str = "blobs") -> dict[str, np.ndarray]:
    """One row per object: :func:`measure_blobs` for blobs and compartments, :func:`measure_lines` for lines.

    Parameters
    ----------
    labels : (M, N) int ndarray
        0 background, objects 1..n (e.g. from :func:`igtt.objects.label_objects`).
    image : (M, N) ndarray, optional
        The input image, for each object's mean, min and max intensity (NaN without it).
    kind : {"blobs", "lines", "compartments"}

    Returns
    -------
    table : dict of column name to 1D ndarray, one entry per object, in label order
        The columns of :data:`BLOB_COLUMNS` or :data:`LINE_COLUMNS`.
    """
    return measure_lines(labels, image) if kind == "lines" else measure_blobs(labels, image)


def measure_blobs(labels: np.ndarray, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Area, centroid, bounding box, equivalent diameter, eccentricity, solidity and intensity of each object.

    Parameters
    ----------
    labels : (M, N) int ndarray
        0 background, objects 1..n (e.g. from :func:`igtt.objects.label_objects`).
    image : (M, N) ndarray, optional
        The input image; its mean, min and max over each object (NaN without it).
    """
    labels = _check(labels, image)
    table = regionprops_table(labels, properties=_PROPERTIES)
    table.update(_intensity(labels, image, table["label"]))
    return {name: table[name] for name in BLOB_COLUMNS}


def measure_lines(labels: np.ndarray, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Skeleton length, branch and end points, mean width and intensity of each connected network (lines).

    The length counts a diagonal step of the skeleton as √2; a branch point
    is a cluster of skeleton pixels with three or more skeleton neighbours,
    an end point a pixel with one; the mean width
    is the area over the skeleton length.
    """
    labels = _check(labels, image)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    skeleton = skeletonize(labels > 0)
    neighbours = ndi.convolve(skeleton.astype(np.uint8), _AROUND, mode="constant") * skeleton
    count = labels.max() + 1
    per = lambda where: np.bincount(labels[where], minlength=count)[ids]  # noqa: E731
    length = sum(w * np.bincount(labels[_step_starts(skeleton, d)], minlength=count)[ids] for d, w in _STEPS)
    area = np.bincount(labels.ravel(), minlength=count)[ids]
    table = {
        "label": ids, "area": area, "skeleton_length": length,
        "branch_points": _junctions(neighbours >= 3, labels, count)[ids], "end_points": per(neighbours == 1),
        "mean_width": area / np.maximum(length, 1),
    }
    table.update(_intensity(labels, image, ids))
    return table


def _junctions(junction: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Per label, its branch points: clusters of touching junction pixels, each counted once."""
    clusters, n = ndi.label(junction, structure=np.ones((3, 3)))
    if n == 0:
        return np.zeros(count, np.int64)
    first = ndi.minimum_position(clusters, clusters, np.arange(1, n + 1))
    return np.bincount([labels[p] for p in first], minlength=count)


def _step_starts(skeleton: np.ndarray, dc: int) -> np.ndarray:
    """Skeleton pixels whose neighbour one row down and ``dc`` columns over (or, for ``dc`` None, one column right) is skeleton too.

    A diagonal step is counted only where the two pixels beside it are not
    skeleton, so a corner is two straight steps, not three.
    """
    s = np.pad(skeleton, 1)
    here = s[1:-1, 1:-1]
    if dc is None:
        return here & s[1:-1, 2:]
    below = s[2:, 1 + dc : s.shape[1] - 1 + dc]
    if dc == 0:
        return here & below
    return here & below & ~s[2:, 1:-1] & ~s[1:-1, 1 + dc : s.shape[1] - 1 + dc]


def _intensity(labels: np.ndarray, image: np.ndarray | None, ids: np.ndarray) -> dict[str, np.ndarray]:
    if image is None or len(ids) == 0:
        nan = np.full(len(ids), np.nan)
        return dict.fromkeys(_INTENSITY, nan)
    image = np.asarray(image, np.float64)
    return {
        "intensity_mean": ndi.mean(image, labels, ids),
        "intensity_min": ndi.minimum(image, labels, ids),
        "intensity_max": ndi.maximum(image, labels, ids),
    }


def _check(labels: np.ndarray, image: np.ndarray | None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be one 2D integer image, got {labels.dtype} of shape {labels.shape}")
    if image is not None and np.shape(image) != labels.shape:
        raise ValueError(f"image shape {np.shape(image)} differs from the labels' {labels.shape}")
    return labels
