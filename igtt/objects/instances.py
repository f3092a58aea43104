"""One id per object: connected components, with touching blobs split by a watershed on the distance to the background."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.feature import peak_local_max
from skimage.filters import gaussian
from skimage.segmentation import relabel_sequential, watershed

__all__ = ["label_objects"]

SEED_SPACING = 1 / 3  # seeds of one object at least this many object diameters apart
SMALLEST = 0.1  # blobs under this share of a typical blob's area are dropped (debris, noise)
NECK = 0.9  # two pieces are one object unless the distance at their border dips below this share of the lower peak


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return ndi.label(mask, output=np.int32)  # 4-connected, as the masks' holes are filled


def label_objects(mask: np.ndarray, *, kind: str = "blobs", object_size: float | None = None, spacing=None) -> np.ndarray:
    """An int32 label image (or volume) of ``mask``: 0 background, 1..n the objects.

    For ``blobs`` (nuclei, cells) touching objects are split: blobs smaller
    than a tenth of a typical one are left out (specks), and each
    clump is cut by a watershed on the smoothed distance to the background,
    seeded at its maxima at least a third of ``object_size`` (the typical
    diameter; default: that of the median connected blob) apart; pieces
    whose border is no neck are joined again. Lines and
    compartments keep their connected components (a vessel tree is one object).

    A volume (a 3D mask) gives 3D objects: one id per object over all its
    planes, split in 3D with the distance measured in ``spacing``.

    Parameters
    ----------
    mask : (M, N) or (P, M, N) bool ndarray
    kind : {"blobs", "lines", "compartments"}
    object_size : float, optional
        Typical blob diameter in pixels (in x/y for a volume), as estimated by :class:`igtt.IGTT` (``object_size_``).
    spacing : (float, float, float), optional
        A volume's voxel size (z, y, x) in any one unit (default isotropic); only the ratios matter.
    """
    mask = np.asarray(mask, bool)
    if mask.ndim not in (2, 3):
        raise ValueError(f"label_objects takes one 2D mask or one 3D volume, got shape {mask.shape}")
    if kind != "blobs":
        return _components(mask)[0]
    regions, n = _components(mask)
    if n == 0:
        return regions
    # the distance in x/y pixels along every axis: a voxel's z step counts as spacing_z / spacing_xy pixels
    steps = np.ones(mask.ndim) if spacing is None else np.asarray(spacing, float)[-mask.ndim:] / float(np.asarray(spacing)[-1])
    areas = np.bincount(regions.ravel())[1:] * np.prod(steps)  # in square (cubic) x/y pixels
    if object_size is None:
        object_size = 2 * np.sqrt(np.median(areas) / np.pi) if mask.ndim == 2 else np.cbrt(6 * np.median(areas) / np.pi)
    typical = np.pi * (object_size / 2) ** 2 if mask.ndim == 2 else np.pi / 6 * object_size**3
    keep = np.concatenate([[False], areas >= SMALLEST * typical])
    mask = keep[regions]
    regions[~mask] = 0
    distance = gaussian(ndi.distance_transform_edt(mask, sampling=steps), 1.0 / steps)
    apart = [max(1, int(SEED_SPACING * object_size / s)) for s in steps]  # seeds this many voxels apart along each axis
    footprint = np.ones([2 * a + 1 for a in apart], bool)
    peaks = peak_local_max(distance, min_distance=min(apart), footprint=footprint, labels=mask.astype(np.uint8), exclude_border=False)
    owner = regions[tuple(peaks.T)]
    labels, count = regions, n  # a blob with one peak (or none: a flat plateau) stays whole
    boxes = ndi.find_objects(regions)
    for i in np.flatnonzero(np.bincount(owner, minlength=n + 1) >= 2):  # clumps: split each in its own box
        box = boxes[i - 1]
        seeds = np.zeros(regions[box].shape, np.int32)
        mine = peaks[owner == i] - [b.start for b in box]
        seeds[tuple(mine.T)] = np.arange(1, len(mine) + 1)
        inside = regions[box] == i
        pieces = _join_without_neck(watershed(-distance[box], seeds, mask=inside), distance[box])
        labels[box] = np.where(inside & (pieces > 1), pieces + count, labels[box])  # piece 1 keeps the id i
        count += int(pieces.max())
    return relabel_sequential(labels)[0]


def _join_without_neck(labels: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Merge touching pieces whose shared border is no neck: an elongated nucleus cut along its ridge is made whole.

    The border's height is the highest distance along it; pieces join where
    it reaches :data:`NECK` of the lower of their two peaks.
    """
    n = int(labels.max())
    left, right, low = [], [], []
    for axis in range(labels.ndim):
        ahead, behind = (tuple(slice(lo, hi) if d == axis else slice(None) for d in range(labels.ndim)) for lo, hi in ((None, -1), (1, None)))
        a, b, da, db = labels[ahead], labels[behind], distance[ahead], distance[behind]
        border = (a != b) & (a > 0) & (b > 0)
        left.append(np.minimum(a[border], b[border]))
        right.append(np.maximum(a[border], b[border]))
        low.append(np.minimum(da[border], db[border]))
    left, right, low = map(np.concatenate, (left, right, low))
    if len(left) == 0:
        return labels
    pairs, where = np.unique(left.astype(np.int64) * (n + 1) + right, return_inverse=True)
    height = np.zeros(len(pairs))
    np.maximum.at(height, where, low)
    peak = ndi.maximum(distance, labels, np.arange(n + 1))
    a, b = pairs // (n + 1), pairs % (n + 1)
    join = height >= NECK * np.minimum(peak[a], peak[b])
    graph = coo_matrix((np.ones(join.sum()), (a[join], b[join])), shape=(n + 1, n + 1))
    _, component = connected_components(graph, directed=False)
    return np.where(labels > 0, component[labels] + 1, 0)

