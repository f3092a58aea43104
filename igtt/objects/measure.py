"""Measurements of labelled objects: one row per object, as columns (scikit-image ``regionprops_table``)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops_table
from skimage.morphology import skeletonize

__all__ = ["BLOB_COLUMNS", "LINE_COLUMNS", "VOLUME_COLUMNS", "measure", "measure_blobs", "measure_lines"]

_PROPERTIES = ("label", "area", "centroid", "bbox", "equivalent_diameter_area", "eccentricity", "solidity")
_PROPERTIES_3D = ("label", "area", "centroid", "bbox", "equivalent_diameter_area")
_INTENSITY = ("intensity_mean", "intensity_min", "intensity_max")
BLOB_COLUMNS = (
    "label", "area", "centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2", "bbox-3",
    "equivalent_diameter_area", "eccentricity", "solidity", *_INTENSITY,
)
LINE_COLUMNS = ("label", "area", "skeleton_length", "branch_points", "end_points", "mean_width", *_INTENSITY)
VOLUME_COLUMNS = (
    "label", "volume", "centroid-0", "centroid-1", "centroid-2", "bbox-0", "bbox-1", "bbox-2", "bbox-3", "bbox-4", "bbox-5",
    "equivalent_diameter", *_INTENSITY,
)
_IN_UNITS = {  # column: (power of the length unit, new name) for the columns that get a physical twin
    "area": (2, "area_um2"), "volume": (3, "volume_um3"), "equivalent_diameter_area": (1, "equivalent_diameter_um"),
    "equivalent_diameter": (1, "equivalent_diameter_um"), "skeleton_length": (1, "skeleton_length_um"), "mean_width": (1, "mean_width_um"),
}
_STEPS = ((None, 1.0), (0, 1.0), (1, np.sqrt(2)), (-1, np.sqrt(2)))  # right, down, down-right, down-left


def measure(
    labels: np.ndarray, image: np.ndarray | None = None, *, kind: str = "blobs", channels=None, names=None, spacing=None
) -> dict[str, np.ndarray]:
    """One row per object: :func:`measure_blobs` for blobs and compartments, :func:`measure_lines` for lines; a volume for each in 3D.

    Parameters
    ----------
    labels : (M, N) or (P, M, N) int ndarray
        0 background, objects 1..n (e.g. from :func:`igtt.objects.label_objects`); a 3D array is one volume.
    image : ndarray shaped like ``labels``, optional
        The segmented image, for each object's mean, min and max intensity (NaN without it).
    kind : {"blobs", "lines", "compartments"}
    channels : (C, ...) ndarray, optional
        Every channel of the image, each shaped like ``labels``: their mean, min,
        max and integrated (sum) intensity per object, in columns
        ``intensity_mean_<name>`` ... named by ``names`` (default ``ch0``, ``ch1`` ...).
    spacing : sequence of float, optional
        The pixel (voxel) size in µm per axis of ``labels``: physical twins of the
        size columns (``area_um2``, ``volume_um3``, ``equivalent_diameter_um``,
        ``skeleton_length_um``, ``mean_width_um``) and centroids in µm (``centroid-0_um`` ...).

    Returns
    -------
    table : dict of column name to 1D ndarray, one entry per object, in label order
        The columns of :data:`BLOB_COLUMNS`, :data:`LINE_COLUMNS` or
        :data:`VOLUME_COLUMNS`, then those of ``channels`` and ``spacing``.
    """
    if np.ndim(labels) == 3:
        table = measure_volume(labels, image) if kind != "lines" else measure_lines(labels, image, spacing=spacing)
    else:
        table = measure_lines(labels, image) if kind == "lines" else measure_blobs(labels, image)
    if channels is not None:
        table.update(channel_columns(np.asarray(labels), channels, table["label"], names))
    if spacing is not None:
        table.update(in_microns(table, spacing, np.ndim(labels)))
    return table


def measure_volume(labels: np.ndarray, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Volume (voxels), centroid (z, y, x), bounding box, equivalent diameter and intensity of each 3D object."""
    labels = _check(labels, image, ndim=3)
    table = regionprops_table(labels, properties=_PROPERTIES_3D)
    table["volume"], table["equivalent_diameter"] = table.pop("area"), table.pop("equivalent_diameter_area")
    table.update(_intensity(labels, image, table["label"]))
    return {name: table[name] for name in VOLUME_COLUMNS}


def channel_columns(labels: np.ndarray, channels, ids: np.ndarray, names=None) -> dict[str, np.ndarray]:
    """Mean, min, max and sum of every channel over each object: ``intensity_mean_<name>`` ..., channel by channel."""
    channels = np.asarray(channels)
    if channels.shape[1:] != labels.shape:
        raise ValueError(f"channels shaped {channels.shape} do not hold images shaped like the labels {labels.shape}")
    names = list(names) if names is not None else [f"ch{c}" for c in range(len(channels))]
    table = {}
    for name, channel in zip(names, channels):
        values = _intensity(labels, channel, ids)
        values["intensity_sum"] = ndi.sum(np.asarray(channel, np.float64), labels, ids) if len(ids) else np.zeros(0)
        table.update({f"{column}_{name}": v for column, v in values.items()})
    return table


def in_microns(table: dict, spacing, ndim: int) -> dict[str, np.ndarray]:
    """The physical twins of a table's size and centroid columns, for pixels of ``spacing`` µm per axis."""
    spacing = np.asarray(spacing, float)[-ndim:]
    length = float(np.prod(spacing)) ** (1 / ndim)  # the side of a square (cube) of one pixel's (voxel's) area
    pixel = float(np.sqrt(spacing[-1] * spacing[-2]))  # in plane: lines are measured in x/y
    out = {}
    for column, (power, name) in _IN_UNITS.items():
        if column in table:
            if power == 1:
                out[name] = np.asarray(table[column], float) * (pixel if column in ("skeleton_length", "mean_width") else length)
            else:
                out[name] = np.asarray(table[column], float) * float(np.prod(spacing))
    for axis in range(ndim):
        if f"centroid-{axis}" in table:
            out[f"centroid-{axis}_um"] = np.asarray(table[f"centroid-{axis}"], float) * spacing[axis]
    return out


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


def measure_lines(labels: np.ndarray, image: np.ndarray | None = None, *, spacing=None) -> dict[str, np.ndarray]:
    """Skeleton length, branch and end points, mean width and intensity of each connected network (lines).

    The length counts a diagonal step of the skeleton as √2; a branch point
    is a cluster of skeleton pixels with three or more skeleton neighbours,
    an end point a pixel with one; the mean width
    is the area over the skeleton length. In 3D (``labels`` a volume) the
    skeleton is 3D and ``area`` its volume in voxels; the length adds the
    steps between neighbouring skeleton voxels (26 neighbours), a z step
    counting as many x/y pixels as ``spacing`` (z, y, x) says.
    """
    labels = _check(labels, image, ndim=np.ndim(labels) if np.ndim(labels) == 3 else 2)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    skeleton = skeletonize(labels > 0)
    around = np.ones((3,) * labels.ndim, np.uint8)
    around[(1,) * labels.ndim] = 0
    neighbours = ndi.convolve(skeleton.astype(np.uint8), around, mode="constant") * skeleton
    count = labels.max() + 1
    per = lambda where: np.bincount(labels[where], minlength=count)[ids]  # noqa: E731
    if labels.ndim == 2:
        length = sum(w * np.bincount(labels[_step_starts(skeleton, d)], minlength=count)[ids] for d, w in _STEPS)
    else:
        length = _length_3d(skeleton, labels, count, spacing)[ids]
    area = np.bincount(labels.ravel(), minlength=count)[ids]
    table = {
        "label": ids, "area": area, "skeleton_length": length,
        "branch_points": _junctions(neighbours >= 3, labels, count)[ids], "end_points": per(neighbours == 1),
        "mean_width": area / np.maximum(length, 1),
    }
    table.update(_intensity(labels, image, ids))
    return table


def _length_3d(skeleton: np.ndarray, labels: np.ndarray, count: int, spacing=None) -> np.ndarray:
    """Per label, the summed length of the steps between 26-neighbouring skeleton voxels, in x/y pixels."""
    steps = np.ones(3) if spacing is None else np.asarray(spacing, float) / float(spacing[-1])
    length = np.zeros(count)
    s = np.pad(skeleton, 1)
    inner = tuple(slice(1, n + 1) for n in skeleton.shape)
    for offset in np.ndindex(3, 3, 3):
        offset = np.subtract(offset, 1)
        if tuple(offset) <= (0, 0, 0):  # each pair once: the 13 offsets after the centre
            continue
        there = tuple(slice(1 + o, n + 1 + o) for o, n in zip(offset, skeleton.shape))
        pair = s[inner] & s[there]
        length += np.linalg.norm(offset * steps) * np.bincount(labels[pair], minlength=count)
    return length


def _junctions(junction: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Per label, its branch points: clusters of touching junction pixels, each counted once."""
    clusters, n = ndi.label(junction, structure=np.ones((3,) * junction.ndim))
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


def _check(labels: np.ndarray, image: np.ndarray | None, ndim: int = 2) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != ndim or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be one {ndim}D integer image, got {labels.dtype} of shape {labels.shape}")
    if image is not None and np.shape(image) != labels.shape:
        raise ValueError(f"image shape {np.shape(image)} differs from the labels' {labels.shape}")
    return labels
