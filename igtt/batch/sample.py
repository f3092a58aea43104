"""What training reads: a sample of the inputs spread over the folder, up to a pixel budget, so memory does not grow with the folder."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..io.files import ImageReadError
from .events import Skipped
from .jobs import Job, PlanError
from .large import training_blocks
from ..nn.volume import as_planes
from .step import planes_of, read_job

__all__ = ["TRAIN_PIXELS", "TrainingSet", "spread_order", "read_training_set"]

# Pixels of input that training reads at most (planes of images, or zarr blocks). Training draws
# 20 epochs x 25 steps x 4 crops of 256^2 (131 megapixels of crops); 40 megapixels hold every dev
# set whole (BBBC039: 36) and take ~0.8 GB with their starts and network input.
TRAIN_PIXELS = 40_000_000


@dataclass
class TrainingSet:
    """The planes training reads, their intensity ranges (None: the plane's own), volumes and hints, and the inputs that failed."""

    planes: list = field(default_factory=list)
    ranges: list = field(default_factory=list)
    volumes: list = field(default_factory=list)  # per plane, None or (key, spacing): a plane of a z-stack (igtt.IGTT.iter_fit)
    painted: list = field(default_factory=list)
    unreadable: set = field(default_factory=set)
    skipped: list = field(default_factory=list)


def spread_order(n: int) -> list[int]:
    """``range(n)`` reordered so that every prefix is spread evenly over it (van der Corput): 0, n/2, n/4, 3n/4, ...

    Inputs are sorted by path, so a prefix samples every subfolder (plate,
    well) in proportion.
    """
    order, seen, k = [], np.zeros(n, bool), 0
    while len(order) < n:
        x, step, i = 0.0, 0.5, k
        while i:
            x += step * (i & 1)
            step /= 2
            i >>= 1
        j = int(x * n)
        if not seen[j]:
            seen[j] = True
            order.append(j)
        k += 1
    return order


def _hints_of(job: Job, hints) -> np.ndarray | None:
    if hints is None:
        return None
    try:
        return hints(job)
    except ValueError as exc:
        raise PlanError(str(exc)) from None


def _hint_planes(job: Job, hint, planes: int) -> list:
    """The job's hints, one per plane (None where there are none)."""
    if hint is None:
        return [None] * planes
    if job.is_zarr:
        raise PlanError(f"{job.source}: hints are not supported for zarr inputs yet")
    hint = np.asarray(hint)
    if hint.shape != job.image.shape:
        raise PlanError(f"{job.source}: its hints are shaped {hint.shape}, the image {job.image.shape}")
    return planes_of(hint)


def read_training_set(
    jobs: Sequence[Job], *, reading: dict, seed: int, hints=None, budget: int = TRAIN_PIXELS
) -> Iterator[Skipped]:
    """Read the training sample; yield a :class:`Skipped` per unreadable input, return the :class:`TrainingSet`.

    Inputs are taken in :func:`spread_order` until ``budget`` pixels are
    read; inputs with hints are always taken. The rest are not read here
    (prediction reads each in turn). The same inputs give the same sample.
    """
    found = TrainingSet()
    pixels = 0
    for index in spread_order(len(jobs)):
        job = jobs[index]
        hint = _hints_of(job, hints)
        if pixels >= budget and hint is None:
            continue
        event = read_job(job, reading)
        if event is None and job.is_zarr:  # random blocks, scaled with their image's (or stack's) range
            try:
                blocks, ranges, groups = training_blocks(job, reading, seed, key=index)
            except (ImageReadError, ImportError) as exc:
                event = Skipped(job.source, str(exc))
        elif event is None and job.is_volume:  # the stack's planes, scaled alike, trained from its 3D start
            blocks, ranges, groups = as_planes(job.image, job.spacing, index)
        elif event is None:
            blocks = planes_of(job.image)
            ranges, groups = [None] * len(blocks), [None] * len(blocks)  # each plane its own range
        if event is not None:
            found.unreadable.add(job.source)
            found.skipped.append((event.source, event.reason))
            yield event
            continue
        found.planes += blocks
        found.ranges += ranges
        found.volumes += groups
        found.painted += _hint_planes(job, hint, len(blocks))
        pixels += sum(b.size for b in blocks)
    return found
