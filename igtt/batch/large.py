"""Zarr inputs in a batch: train on random blocks, predict block by block into an OME-Zarr mask (and its labels image).

A store whose images are z-stacks (an OME ``z`` axis, or ``--3d``) goes as
volumes: it trains on blocks of all its planes (as a z-stack read whole
does, :mod:`igtt.nn.volume`) and is predicted in columns of blocks through
every plane, its objects 3D across the blocks' seams.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..io.blocks import Plane, block_grid, grow, predict_blocks, sample_blocks, strided_view
from ..nn.volume import as_planes, predict_volume, stack_scaling
from ..starts.images import intensity_range
from ..io.zarr_store import open_zarr, write_mask_zarr
from ..objects.blocks import label_blocks, measure_blocks
from ..objects.table import summary_rows, write_measurements
from .jobs import Job

__all__ = ["open_store", "training_blocks", "predict_store"]

_PLANES = 4  # planes of a stack that give training blocks
_BLOCKS = 8  # blocks of 1024² per image (spread over those planes)
_STACKS = 2  # z-stacks of a store that give training blocks, 2 blocks through all planes each
_TRAIN_VOXELS = 16_000_000  # a training block of a z-stack: its planes x rows x columns at most
_VOXELS = 64_000_000  # a column of a z-stack predicted at once (with its margins): its probabilities take 4 bytes a voxel


def open_store(job: Job, reading: dict):
    """The job's zarr image (:class:`igtt.io.zarr_store.ZarrImage`) at the level and channel asked for."""
    return open_zarr(job.source, level=reading.get("level", 0), channel=reading.get("channel"))


def training_blocks(job: Job, reading: dict, seed: int, key=None) -> tuple[list[np.ndarray], list[tuple], list]:
    """Random blocks of a zarr image (a few planes of a stack), each with its plane's intensity range, and their volume groups.

    Never holds the whole image: one strided view per plane (for the range
    and for where the blocks go), then the blocks themselves. A job read as
    volumes gives blocks through all the planes of a few of its z-stacks,
    scaled with the stack's range, grouped as volumes ``(key, spacing)``
    for :meth:`igtt.IGTT.iter_fit`.
    """
    image = open_store(job, reading)
    if job.is_volume:
        return _stack_blocks(image, job.spacing, seed, key)
    planes = list(image.planes())
    chosen = [planes[i] for i in np.unique(np.linspace(0, len(planes) - 1, min(_PLANES, len(planes))).round().astype(int))]
    blocks, ranges = [], []
    for k, plane in enumerate(chosen):
        view = strided_view(plane)
        lo_hi = intensity_range(view[0])
        for block in sample_blocks(plane, count=max(1, _BLOCKS // len(chosen)), seed=seed + k, view=view):
            blocks.append(block)
            ranges.append(lo_hi)
    return blocks, ranges, [None] * len(blocks)


def _stack_blocks(image, spacing, seed: int, key) -> tuple[list[np.ndarray], list[tuple], list]:
    indices = list(image.volume_indices())
    planes, ranges, groups = [], [], []
    for k in np.unique(np.linspace(0, len(indices) - 1, min(_STACKS, len(indices))).round().astype(int)):
        stack = Plane(image.array, indices[k], source=str(image.path))
        view, step = _stack_view(stack)
        range_ = intensity_range(view)  # the whole stack's, for every block of it
        side = max(64, int(np.sqrt(_TRAIN_VOXELS / view.shape[0])))
        for b, block in enumerate(sample_blocks(stack, size=min(side, 1024), count=2, seed=seed + int(k), view=(view.max(axis=0), step))):
            p, _, g = as_planes(block, spacing, (key, int(k), b))
            planes += p
            ranges += [range_] * len(p)
            groups += g
    return planes, ranges, groups


def predict_store(job: Job, model, reading: dict, *, block: int = 4096) -> Iterator[tuple[int, int]]:
    """Predict every plane of a zarr image block by block into its planned OME-Zarr mask; yield (plane, planes).

    A job read as volumes goes z-stack by z-stack, in columns through all
    the planes; yields (stack, stacks). With labels, the objects go into the
    store's labels image; with measurements, their table (every channel, in
    µm where the store says the pixel size) is written once the store is.
    """
    image = open_store(job, reading)
    volume = job.is_volume
    indices = [tuple(i) for i in (image.volume_indices() if volume else image.plane_indices())]
    keep = [a.get("type") != "channel" for a in image.axes[: image.array.ndim - (3 if volume else 2)]]
    side = _column_side(image.array.shape[-3], block) if volume else block
    labels, tables = "labels" in job.outputs, []
    with write_mask_zarr(job.outputs["mask"], image, replace=job.replace, labels=labels) as out:
        out, objects = out if labels else (out, None)
        for n, index in enumerate(indices, 1):
            source = Plane(image.array, index, source=str(job.source))
            at = tuple(i for i, k in zip(index, keep) if k) + index[len(keep) :]  # the mask's index: no channel axis
            if volume:
                _predict_columns(model, source, Plane(out, at), side, job.spacing)
            else:
                for _ in predict_blocks(model, source, Plane(out, at), block=block):
                    pass
            if labels:  # from the mask just written, block by block: objects across seams keep one id
                kind, size = model.objects_, model.object_size_
                count = label_blocks(Plane(out, at), Plane(objects, at), kind=kind, object_size=size, spacing=job.spacing, block=side)
                if "measurements" in job.outputs:
                    tables.append(_measure(job, image, source, Plane(objects, at), count, kind, side))
            yield n, len(indices)
    if "measurements" in job.outputs:
        write_measurements(job.outputs["measurements"], tables, replace=job.replace, planes=not volume or len(tables) > 1)
        job.summary = summary_rows(str(job.source), tables, [None] * len(tables), volume=volume)


def _measure(job: Job, image, source: Plane, objects: Plane, count: int, kind: str, block: int) -> dict:
    """The table of one plane's (or stack's) objects: every channel of the store, in µm where its pixel size is known."""
    index = source.index
    axis = next((k for k, a in enumerate(image.axes[: len(index)]) if a.get("type") == "channel"), None)
    channels = None if axis is None else [
        Plane(image.array, index[:axis] + (c,) + index[axis + 1 :], source=source.source) for c in range(image.array.shape[axis])
    ]
    spacing = job.spacing if job.is_volume else job.info.pixel
    return measure_blocks(objects, source, count=count, kind=kind, channels=channels, names=job.info.channels, spacing=spacing, block=block)


def _stack_view(stack: Plane) -> tuple[np.ndarray, int]:
    """Every ``step``-th pixel of every plane of a z-stack, about :data:`_TRAIN_VOXELS` in all (its range, gain and flat parts)."""
    return strided_view(stack, limit=int(max(256, np.sqrt(_TRAIN_VOXELS / stack.array.shape[-3]))))


def _column_side(depth: int, block: int, margin: int = 128) -> int:
    """The side of the blocks a z-stack of ``depth`` planes is cut into, so a column with its margins holds about :data:`_VOXELS`."""
    return int(min(block, max(256, np.sqrt(_VOXELS / max(depth, 1)) - 2 * margin)))


def _predict_columns(model, source: Plane, sink: Plane, side: int, spacing, margin: int = 128) -> None:
    """The 3D mask of the z-stack ``source`` into ``sink``, column by column (:func:`igtt.nn.volume.predict_volume`), scaled as one stack."""
    view, step = _stack_view(source)
    scaling = stack_scaling(model, view, step=step)
    del view
    for rows, cols in block_grid(source.shape, side):
        outer = (grow(rows, margin, source.shape[0]), grow(cols, margin, source.shape[1]))
        mask, _ = predict_volume(model, np.asarray(source[outer]), scaling=scaling, spacing=spacing)
        inner = (slice(rows.start - outer[0].start, rows.stop - outer[0].start), slice(cols.start - outer[1].start, cols.stop - outer[1].start))
        sink[rows, cols] = np.multiply(mask[(slice(None), *inner)], 255, dtype=np.uint8)
