"""Zarr inputs in a batch: train on random blocks, predict block by block into an OME-Zarr mask (and its labels image)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..io.blocks import Plane, predict_blocks, sample_blocks, strided_view
from ..starts.images import intensity_range
from ..io.zarr_store import open_zarr, write_mask_zarr
from ..objects.blocks import label_blocks
from .jobs import Job

__all__ = ["training_blocks", "predict_store"]

_PLANES = 4  # planes of a stack that give training blocks
_BLOCKS = 8  # blocks of 1024² per image (spread over those planes)


def _open(job: Job, reading: dict):
    return open_zarr(job.source, level=reading.get("level", 0), channel=reading.get("channel"))


def training_blocks(job: Job, reading: dict, seed: int) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """Random blocks of a zarr image (a few planes of a stack), each with its plane's intensity range.

    Never holds the whole image: one strided view per plane (for the range
    and for where the blocks go), then the blocks themselves.
    """
    image = _open(job, reading)
    planes = list(image.planes())
    chosen = [planes[i] for i in np.unique(np.linspace(0, len(planes) - 1, min(_PLANES, len(planes))).round().astype(int))]
    blocks, ranges = [], []
    for k, plane in enumerate(chosen):
        view = strided_view(plane)
        lo_hi = intensity_range(view[0])
        for block in sample_blocks(plane, count=max(1, _BLOCKS // len(chosen)), seed=seed + k, view=view):
            blocks.append(block)
            ranges.append(lo_hi)
    return blocks, ranges


def predict_store(job: Job, model, reading: dict, *, block: int = 4096) -> Iterator[tuple[int, int]]:
    """Predict every plane of a zarr image block by block into its planned OME-Zarr mask; yield (plane, planes)."""
    image = _open(job, reading)
    indices = list(image.plane_indices())
    keep = [a.get("type") != "channel" for a in image.axes[:-2]]
    labels = "labels" in job.outputs
    with write_mask_zarr(job.outputs["mask"], image, replace=job.replace, labels=labels) as out:
        out, objects = out if labels else (out, None)
        for n, index in enumerate(indices, 1):
            source = Plane(image.array, tuple(index), source=str(job.source))
            plane = tuple(i for i, k in zip(index, keep) if k)
            for _ in predict_blocks(model, source, Plane(out, plane), block=block):
                pass
            if labels:  # from the mask just written, block by block: objects across seams keep one id
                label_blocks(Plane(out, plane), Plane(objects, plane), kind=model.objects_, object_size=model.object_size_, block=block)
            yield n, len(indices)
