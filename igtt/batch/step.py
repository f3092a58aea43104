"""One job, start to end: read it, predict it, write it (locally, or as a task on a dask worker)."""

from __future__ import annotations

import numpy as np

from ..io.files import ImageReadError, read_image, write_tiff
from ..io.meta import ImageInfo, check_spacing, image_info
from ..nn.volume import predict_volume
from ..objects import label_objects, measure, summary_rows, write_measurements
from ..quality import Segmentation
from ..training.hints import honour_strokes
from .events import Failed, Skipped
from .jobs import Job
from .large import open_store, predict_store

__all__ = ["planes_of", "read_job", "predict_job", "label_job", "measure_job", "write_outputs", "keep_in_memory"]


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
        write_measurements(job.outputs["measurements"], job.tables, replace=job.replace, planes=not job.is_volume)


def measure_job(job: Job) -> list[dict]:
    """The measurements of a job's objects: one table per plane (one for a volume), every channel, in µm where the pixel size is known."""
    info = job.info or ImageInfo()
    if job.is_volume:
        return [measure(job.objects[0], job.image, kind=job.kind, channels=job.channels, names=info.channels, spacing=job.spacing)]
    kinds = [c.kind if c is not None else job.kind for c in job.checks or [None] * len(job.objects)]
    planes = planes_of(job.image)
    channels = [None] * len(planes) if job.channels is None else list(np.moveaxis(job.channels.reshape((len(job.channels), -1) + planes[0].shape), 1, 0))
    return [
        measure(o, p, kind=k, channels=c, names=info.channels, spacing=info.pixel)
        for o, p, k, c in zip(job.objects, planes, kinds, channels)
    ]


def label_job(job: Job, masks: list[np.ndarray], model) -> None:
    """Give a job's planes (or its volume) their objects (``job.objects``) and note their count and median area in its checks."""
    if job.is_volume:
        # the volume's own size (its mask's median object): one stack's nuclei may be larger than the folder's (embryo stages)
        job.objects = [label_objects(masks[0], kind=model.objects_, spacing=job.spacing)]
        return
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


def read_job(job: Job, reading: dict, *, channels: bool = False) -> Skipped | None:
    """Read a job's image (and with ``channels``, every channel of a multi-channel one) and decide whether it is a volume.

    ``reading``: ``channel``, ``max_pixels``; ``depth`` True (``--3d``), False
    (``--2d``) or None (a z axis in the metadata decides); ``pixel_size``
    and ``z_step`` in µm, over the file's.
    """
    if job.is_zarr:  # a zarr image is read block by block, never whole: here its metadata only
        return _read_store(job, reading)
    try:
        limit = {k: v for k, v in reading.items() if k == "max_pixels"}
        if job.image is None:
            job.image = read_image(job.source, channel=reading.get("channel"), **limit)
            job.info = image_info(job.source).given(pixel_size=reading.get("pixel_size"), z_step=reading.get("z_step"))
            job.spacing = _volume_spacing(job.source, job.image.shape, job.info, reading.get("depth"))
        if channels and job.channels is None and reading.get("channel") is not None:
            job.channels = read_image(job.source, all_channels=True, **limit)
    except (ImageReadError, ValueError) as exc:
        job.image = None
        return Skipped(job.source, str(exc))
    return None


def _read_store(job: Job, reading: dict) -> Skipped | None:
    """A zarr job's pixel sizes and whether its images are z-stacks (volumes), from its metadata; Skipped if it cannot be opened."""
    if job.info is not None:
        return None
    try:
        image = open_store(job, reading)
        info = image.info.given(pixel_size=reading.get("pixel_size"), z_step=reading.get("z_step"))
        stacks = info.has_z and len(image.mask_shape) >= 3  # a t, z, y, x store: one volume per time point
        job.spacing = _volume_spacing(job.source, image.mask_shape[-3:] if stacks else image.mask_shape, info, reading.get("depth"))
        job.info = info
    except (ImageReadError, ValueError, ImportError) as exc:
        return Skipped(job.source, str(exc))
    return None


def _volume_spacing(source, shape: tuple, info: ImageInfo, depth: bool | None) -> tuple | None:
    """The voxel size of an image of ``shape`` read as a volume (a z axis, or ``--3d``), else None; ValueError for a stack that cannot be one."""
    if depth is False or (depth is None and not (info.has_z and len(shape) == 3)):
        return None
    if len(shape) != 3:
        raise ValueError(f"{source}: --3d given, but the image (shape {tuple(shape)}) is not one z-stack of 2D planes")
    if info.spacing is None:
        missing = "pixel size and z step" if info.pixel is None and info.z_step is None else "pixel size" if info.pixel is None else "z step"
        raise ValueError(f"{source}: a z-stack without its {missing} in the metadata; give it with --pixel-size / --z-step (µm), or --2d for planes")
    check_spacing(source, info.spacing)
    return info.spacing


def predict_job(job: Job, model, *, reading: dict, probabilities: bool = False, write=write_outputs, note=None, strokes=None):
    """Read, predict and write one job; return the job when written, else its :class:`Skipped` or :class:`Failed`.

    ``strokes(job)``: the hints painted on it or None; its masks honour them
    (:func:`igtt.training.hints.honour_strokes`).

    ``note(job)``: called once its checks are known, before its outputs are
    written (the run's report gets the job's rows first, so a kill never
    leaves a mask without them).
    """
    if (event := read_job(job, reading, channels="measurements" in job.outputs)) is not None:
        return event
    try:
        if job.is_zarr:
            for _ in predict_store(job, model, reading):
                pass
        else:
            painted = None if job.is_volume or strokes is None or (hint := strokes(job)) is None else planes_of(np.asarray(hint))
            if job.is_volume:  # one 3D mask; no plane-by-plane check
                mask, probability = predict_volume(model, job.image, proba=probabilities, spacing=job.spacing)
                done, masks = [Segmentation(mask, probability, None)], [mask]
            else:  # the user's strokes judge a mask that ran away from its start (the check), and win on their pixels
                done = list(model.iter_predict(planes_of(job.image), proba=probabilities, hints=painted))
                masks = [d.mask for d in done]
            job.checks, job.kind = [d.check for d in done], model.objects_
            if painted is not None:
                sizes = [c.object_size if c is not None else model.object_size_ for c in job.checks]
                masks = [
                    honour_strokes(m, h, kind=model.objects_, size=z, image=plane, bright=model.foreground_ != "dark")
                    for m, h, z, plane in zip(masks, painted, sizes, planes_of(job.image))
                ]
            if write is keep_in_memory or {"labels", "measurements"} & set(job.outputs):
                label_job(job, masks, model)
                job.tables = measure_job(job) if "measurements" in job.outputs else None
                job.summary = summary_rows(str(job.source), job.tables, job.objects, volume=job.is_volume)
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
            job.image = job.objects = job.channels = job.tables = None  # free memory as files go
