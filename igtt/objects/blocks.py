"""Objects of a mask larger than memory, block by block: each object one id, whichever block seams cross it."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..io.blocks import block_grid, grow
from .instances import label_objects

__all__ = ["label_blocks"]


def label_blocks(mask, sink, *, kind: str = "blobs", object_size: float | None = None, block: int = 4096) -> int:
    """Write the objects of ``mask`` (a 2D array read by region, nonzero = object) into ``sink``; return how many.

    ``sink`` (uint32, shaped like ``mask``) gets what :func:`label_objects`
    gives for the whole mask, without holding it: blobs are split in
    blocks with a margin of twice ``object_size``, and each block keeps
    the objects whose centre lies in it (whole, as its margin shows them);
    lines and compartments are labelled per block, then the pieces that
    touch across a seam are given one id.
    """
    if kind == "blobs" and object_size:
        return _blobs(mask, sink, float(object_size), block)
    return _components(mask, sink, block)


def _blobs(mask, sink, size: float, block: int) -> int:
    halo = int(2 * size) + 8
    count = 0
    for rows, cols in block_grid(mask.shape, block):
        outer = (grow(rows, halo, mask.shape[0]), grow(cols, halo, mask.shape[1]))
        labels = label_objects(np.asarray(mask[outer]) > 0, object_size=size)
        n = int(labels.max())
        if n == 0:
            continue
        centre = np.array(ndi.center_of_mass(labels > 0, labels, np.arange(1, n + 1))) + (outer[0].start, outer[1].start)
        mine = (centre[:, 0] >= rows.start) & (centre[:, 0] < rows.stop) & (centre[:, 1] >= cols.start) & (centre[:, 1] < cols.stop)
        ids = np.zeros(n + 1, np.uint32)
        ids[1:][mine] = count + 1 + np.arange(mine.sum(), dtype=np.uint32)
        count += int(mine.sum())
        kept = ids[labels]
        if not kept.any():
            continue
        r, c = np.nonzero(kept)
        box = (slice(r.min(), r.max() + 1), slice(c.min(), c.max() + 1))
        target = (slice(outer[0].start + box[0].start, outer[0].start + box[0].stop), slice(outer[1].start + box[1].start, outer[1].start + box[1].stop))
        sink[target] = np.where(kept[box] > 0, kept[box], np.asarray(sink[target]))
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
    pairs = []  # ids that touch across a seam (4-connected, as within a block)
    height, width = mask.shape
    for row in sorted({r.start for r, _ in grid} - {0}):
        pairs.append(np.asarray(sink[row - 1 : row + 1, 0:width]))
    for col in sorted({c.start for _, c in grid} - {0}):
        pairs.append(np.asarray(sink[0:height, col - 1 : col + 1]).T)
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
