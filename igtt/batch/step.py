"""One job, start to end: read it, predict it, write it (locally, or as a task on a dask worker)."""

from __future__ import annotations

import numpy as np

from ..io.files import ImageReadError, read_image, write_tiff
from ..objects import label_objects, measure, write_measurements
from ..training.hints import honour_strokes
from .events import Failed, Skipped
from .jobs import Job
from .large import predict_store

__all__ = ["planes_of", "read_job", "predict_job", "label_job", "write_outputs", "keep_in_memory"]


def planes_of(image: np.ndarray) -> list[np.ndarray]:
    """The 2D planes of an image of any rank, as a list (a 500x3 plane is never taken for RGB)."""
    return list(image.reshape((-1,) + image.shape[-2:]))


def write_outputs(job: Job, masks: list[np.ndarray], proba: list[np.ndarray] | None) -> None:
    """Write a job's planned outputs, each shaped like its input, each atomically."""
    shape = job.image.shape
    write_tiff(job.outputs["mask"], np.multiply(masks, 255, dtype=np.uint8).reshape(shape), replace=job.replace)
    if "probability" in job.outputs:
        write_tiff(job.outputs["probability"], np.asarray(proba, np.float32).reshape(shape), replace=job.replace)
    if "labels" in job.outputs:
        write_tiff(job.outputs["labels"], np.asarray(job.objects, np.uint32).reshape(shape), replace=job.replace)
    if "measurements" in job.outputs:
        kinds = [c.kind if c is not None else "blobs" for c in job.checks or [None] * len(masks)]
        tables = [measure(o, p, kind=k) for o, p, k in zip(job.objects, planes_of(job.image), kinds)]
        write_measurements(job.outputs["measurements"], tables, replace=job.replace)


def label_job(job: Job, masks: list[np.ndarray], model) -> None:
    """Give a job's planes their objects (``job.objects``) and note their count and median area in its checks."""
    checks = job.checks or [None] * len(masks)
    job.objects = []
    for mask, check in zip(masks, checks):
        size = check.object_size if check is not None else model.object_size_
        objects = label_objects(mask, kind=model.objects_, object_size=size)
        job.objects.append(objects)
        if check is not None:
            areas = np.bincount(objects.ravel())[1:]
            check.instances, check.median_area = len(areas), float(np.median(areas)) if len(areas) else 0.0


def keep_in_memory(job: Job, masks: list[np.ndarray], proba: list[np.ndarray] | None) -> None:
    """Store a job's results in ``job.result``: masks, probabilities (or None) and objects (ids per plane), shaped like its image."""
    shape = job.image.shape
    proba = None if proba is None else np.asarray(proba, np.float32).reshape(shape)
    job.result = (np.asarray(masks, bool).reshape(shape), proba, np.asarray(job.objects, np.uint32).reshape(shape))


def read_job(job: Job, reading: dict) -> Skipped | None:
    if job.image is not None or job.is_zarr:  # a zarr image is read block by block, never whole
        return None
    try:
        job.image = read_image(job.source, channel=reading.get("channel"), **{k: v for k, v in reading.items() if k == "max_pixels"})
    except ImageReadError as exc:
        return Skipped(job.source, str(exc))
    return None


def predict_job(job: Job, model, *, reading: dict, probabilities: bool = False, write=write_outputs, note=None, strokes=None):
    """Read, predict and write one job; return the job when written, else its :class:`Skipped` or :class:`Failed`.

    ``strokes(job)``: the hints painted on it or None; its masks honour them
    (:func:`igtt.training.hints.honour_strokes`).

    ``note(job)``: called once its checks are known, before its outputs are
    written (the run's report gets the job's rows first, so a kill never
    leaves a mask without them).
    """
    if (event := read_job(job, reading)) is not None:
        return event
    try:
        if job.is_zarr:
            for _ in predict_store(job, model, reading):
                pass
        else:
            done = list(model.iter_predict(planes_of(job.image), proba=probabilities))
            job.checks = [d.check for d in done]
            masks = [d.mask for d in done]
            if (painted := strokes(job) if strokes is not None else None) is not None:  # the user's strokes win over the network
                sizes = [c.object_size if c is not None else model.object_size_ for c in job.checks]
                masks = [honour_strokes(m, h, kind=model.objects_, size=z) for m, h, z in zip(masks, planes_of(np.asarray(painted)), sizes)]
            if write is keep_in_memory or {"labels", "measurements"} & set(job.outputs):
                label_job(job, masks, model)
            if note is not None:
                note(job)
            write(job, masks, [d.proba for d in done] if probabilities else None)
        return job
    except ImageReadError as exc:  # a fault while reading a block of a zarr store
        return Skipped(job.source, str(exc))
    except Exception as exc:  # writing failed (disk full, permissions, a share that errors): the batch goes on
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__
        return Failed(job, f"{job.source}: not written ({reason})")
    finally:
        if write is write_outputs:
            job.image = job.objects = None  # free memory as files go
