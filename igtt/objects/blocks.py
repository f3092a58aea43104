"""Objects of a mask larger than memory, block by block: each object one id, whichever block seams cross it, and its measurements."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..io.blocks import block_grid, grow
from .instances import label_objects
from .measure import measure

__all__ = ["label_blocks", "measure_blocks"]


def label_blocks(mask, sink, *, kind: str = "blobs", object_size: float | None = None, spacing=None, block: int = 4096) -> int:
    """Write the objects of ``mask`` (a 2D array read by region, nonzero = object) into ``sink``; return how many.

    ``sink`` (uint32, shaped like ``mask``) gets what :func:`label_objects`
    gives for the whole mask, without holding it: blobs are split in
    blocks with a margin of twice ``object_size``, and each block keeps
    the objects whose centre lies in it (whole, as its margin shows them);
    lines and compartments are labelled per block, then the pieces that
    touch across a seam are given one id.

    A z-stack read by rows and columns (a :class:`igtt.io.blocks.Plane`
    whose index ends with the whole z axis) goes in columns of blocks of
    every plane: its objects are 3D, split with the voxel size ``spacing``
    at each block's own object size, as :func:`igtt.batch.step.label_job`
    does for a stack read whole.
    """
    if kind == "blobs" and object_size:
        return _blobs(mask, sink, float(object_size), block, spacing)
    return _components(mask, sink, block)


def _blobs(mask, sink, size: float, block: int, spacing) -> int:
    halo = int(2 * size) + 8
    count = 0
    for rows, cols in block_grid(mask.shape, block):
        outer = (grow(rows, halo, mask.shape[0]), grow(cols, halo, mask.shape[1]))
        region = np.asarray(mask[outer]) > 0
        labels = label_objects(region, object_size=None if region.ndim == 3 else size, spacing=spacing)
        n = int(labels.max())
        if n == 0:
            continue
        centre = np.array(ndi.center_of_mass(labels > 0, labels, np.arange(1, n + 1)))[:, -2:] + (outer[0].start, outer[1].start)
        mine = (centre[:, 0] >= rows.start) & (centre[:, 0] < rows.stop) & (centre[:, 1] >= cols.start) & (centre[:, 1] < cols.stop)
        ids = np.zeros(n + 1, np.uint32)
        ids[1:][mine] = count + 1 + np.arange(mine.sum(), dtype=np.uint32)
        count += int(mine.sum())
        kept = ids[labels]
        if not kept.any():
            continue
        r, c = np.nonzero(kept.any(axis=0) if kept.ndim == 3 else kept)
        box = (slice(r.min(), r.max() + 1), slice(c.min(), c.max() + 1))
        target = (slice(outer[0].start + box[0].start, outer[0].start + box[0].stop), slice(outer[1].start + box[1].start, outer[1].start + box[1].stop))
        sink[target] = np.where(kept[(..., *box)] > 0, kept[(..., *box)], np.asarray(sink[target]))
    return count


def _components(mask, sink, block: int) -> int:
    grid = block_grid(mask.shape, block)
    count = 0
    for rows, cols in grid:
        labels, n = ndi.label(np.asarray(mask[rows, cols]) > 0)
        sink[rows, cols] = np.where(labels > 0, labels + count, 0).astype(np.uint32)
        count += n
    if count == 0:
        return 0
    pairs = []  # ids that touch across a seam (face-connected, as within a block), as (2, ...) arrays
    height, width = mask.shape
    for row in sorted({r.start for r, _ in grid} - {0}):
        pairs.append(np.moveaxis(np.asarray(sink[row - 1 : row + 1, 0:width]), -2, 0).reshape(2, -1))
    for col in sorted({c.start for _, c in grid} - {0}):
        pairs.append(np.moveaxis(np.asarray(sink[0:height, col - 1 : col + 1]), -1, 0).reshape(2, -1))
    a = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.uint32)
    b = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.uint32)
    touch = (a > 0) & (b > 0)
    graph = coo_matrix((np.ones(touch.sum()), (a[touch], b[touch])), shape=(count + 1, count + 1))
    _, component = connected_components(graph, directed=False)
    used, lookup = np.unique(component[1:], return_inverse=True)
    lookup = np.concatenate([[0], lookup + 1]).astype(np.uint32)
    for rows, cols in grid:
        sink[rows, cols] = lookup[np.asarray(sink[rows, cols])]
    return len(used)


def measure_blocks(labels, image=None, *, count: int, kind: str = "blobs", channels=None, names=None, spacing=None, block: int = 4096) -> dict:
    """:func:`igtt.measure` of a label image larger than memory (read by region, as ``label_blocks`` writes it): the same table.

    ``count``: the highest id. Each object's box (in rows and columns) is
    found block by block; the objects whose box starts in one block are
    then measured together on the region holding all their boxes, whole,
    and their centroids and boxes moved to the image's coordinates.
    ``channels``: one region-read array per channel; ``spacing``: µm per axis.
    """
    lo = np.full((count + 1, 2), np.iinfo(np.int64).max)
    hi = np.full((count + 1, 2), -1)
    for rows, cols in block_grid(labels.shape, block):
        ids = np.asarray(labels[rows, cols]).astype(np.int64)
        present = np.unique(ids)[1:] if ids.any() else np.zeros(0, np.int64)
        if present.size == 0:
            continue
        for axis, start in ((-2, rows.start), (-1, cols.start)):
            place = np.broadcast_to(np.arange(ids.shape[axis]).reshape((-1,) + (1,) * (-axis - 1)), ids.shape) + start
            np.minimum.at(lo[:, axis], present, np.asarray(ndi.minimum(place, ids, present), np.int64))
            np.maximum.at(hi[:, axis], present, np.asarray(ndi.maximum(place, ids, present), np.int64))
    found = np.flatnonzero(hi[:, 0] >= 0)
    home = (lo[found] // block) @ np.array([1 << 32, 1])  # the block each box starts in
    tables = []
    for key in np.unique(home):
        ids = found[home == key]
        region = tuple(  # their boxes with a pixel or two around: a skeleton needs the background beside its object
            slice(max(int(lo[ids, k].min()) - 2, 0), min(int(hi[ids, k].max()) + 3, n)) for k, n in enumerate(labels.shape)
        )
        crop = np.asarray(labels[region])
        crop = np.where(np.isin(crop, ids), crop, 0)
        part = measure(
            crop, None if image is None else np.asarray(image[region]), kind=kind, names=names, spacing=spacing,
            channels=None if channels is None else np.stack([np.asarray(c[region]) for c in channels]),
        )
        tables.append(_moved(part, (region[0].start, region[1].start), crop.ndim, spacing))
    if not tables:  # no object: the columns, no rows
        empty = np.zeros(np.asarray(labels[0:1, 0:1]).shape, np.int32)
        return measure(empty, None if image is None else empty, kind=kind, names=names, spacing=spacing,
                       channels=None if channels is None else np.stack([empty] * len(channels)))
    order = np.argsort(np.concatenate([t["label"] for t in tables]), kind="stable")
    return {column: np.concatenate([t[column] for t in tables])[order] for column in tables[0]}


def _moved(table: dict, offset: tuple[int, int], ndim: int, spacing) -> dict:
    """``table``'s centroids and boxes (rows and columns axes) shifted by ``offset`` pixels (and µm)."""
    shift = np.zeros(ndim)
    shift[-2:] = offset
    size = np.ones(ndim) if spacing is None else np.asarray(spacing, float)[-ndim:]
    for axis in range(ndim):
        for column, by in ((f"centroid-{axis}", shift[axis]), (f"centroid-{axis}_um", shift[axis] * size[axis]),
                           (f"bbox-{axis}", shift[axis]), (f"bbox-{axis + ndim}", shift[axis])):
            if column in table:
                table[column] = table[column] + (int(by) if column.startswith("bbox") else by)
    return table
