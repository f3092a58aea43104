"""One job, start to end: read it, predict it, write it (locally, or as a task on a dask worker)."""

from __future__ import annotations

import numpy as np

from ..io.files import ImageReadError, read_image, write_tiff
from .events import Failed, Skipped
from .jobs import Job
from .large import predict_store

__all__ = ["planes_of", "read_job", "predict_job", "write_outputs", "keep_in_memory"]


def planes_of(image: np.ndarray) -> list[np.ndarray]:
    """The 2D planes of an image of any rank, as a list (a 500x3 plane is never taken for RGB)."""
    return list(image.reshape((-1,) + image.shape[-2:]))


def write_outputs(job: Job, masks: list[np.ndarray], proba: list[np.ndarray] | None) -> None:
    """Write a job's planned outputs, each shaped like its input, each atomically."""
    from scipy import ndimage as ndi

    shape = job.image.shape
    write_tiff(job.outputs["mask"], np.multiply(masks, 255, dtype=np.uint8).reshape(shape), replace=job.replace)
    if "probability" in job.outputs:
        write_tiff(job.outputs["probability"], np.asarray(proba, np.float32).reshape(shape), replace=job.replace)
    if "labels" in job.outputs:
        instances = np.stack([ndi.label(m, output=np.uint32)[0] for m in masks])  # 4-connected
        write_tiff(job.outputs["labels"], instances.reshape(shape), replace=job.replace)


def keep_in_memory(job: Job, masks: list[np.ndarray], proba: list[np.ndarray] | None) -> None:
    """Store a job's results in ``job.result``, shaped like its image."""
    shape = job.image.shape
    job.result = (np.asarray(masks, bool).reshape(shape), None if proba is None else np.asarray(proba, np.float32).reshape(shape))


def read_job(job: Job, reading: dict) -> Skipped | None:
    if job.image is not None or job.is_zarr:  # a zarr image is read block by block, never whole
        return None
    try:
        job.image = read_image(job.source, channel=reading.get("channel"), **{k: v for k, v in reading.items() if k == "max_pixels"})
    except ImageReadError as exc:
        return Skipped(job.source, str(exc))
    return None


def predict_job(job: Job, model, *, reading: dict, probabilities: bool = False, write=write_outputs):
    """Read, predict and write one job; return the job when written, else its :class:`Skipped` or :class:`Failed`."""
    if (event := read_job(job, reading)) is not None:
        return event
    try:
        if job.is_zarr:
            for _ in predict_store(job, model, reading):
                pass
        else:
            done = list(model.iter_predict(planes_of(job.image), proba=probabilities))
            job.checks = [d.check for d in done]
            write(job, [d.mask for d in done], [d.proba for d in done] if probabilities else None)
        return job
    except ImageReadError as exc:  # a fault while reading a block of a zarr store
        return Skipped(job.source, str(exc))
    except Exception as exc:  # writing failed (disk full, permissions, a share that errors): the batch goes on
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__
        return Failed(job, f"{job.source}: not written ({reason})")
    finally:
        if write is write_outputs:
            job.image = None  # free memory as files go
