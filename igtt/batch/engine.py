"""Running planned jobs: read -> train or load -> predict -> write, as a generator of events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..io.files import ImageReadError
from ..quality import folder_flags, report_row
from ..quality.report import write_report
from .cluster import predict_on_cluster
from .events import Report, Skipped, Trained, Written
from .jobs import Job, PlanError
from .large import training_blocks
from .step import planes_of, predict_job, read_job, write_outputs

__all__ = ["run"]


def _hint_planes(job: Job, hints, planes: int) -> list:
    """The job's hints, one per plane (None where there are none)."""
    hint = None
    if hints is not None:
        try:
            hint = hints(job)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    if hint is None:
        return [None] * planes
    if job.is_zarr:
        raise PlanError(f"{job.source}: hints are not supported for zarr inputs yet")
    hint = np.asarray(hint)
    if hint.shape != job.image.shape:
        raise PlanError(f"{job.source}: its hints are shaped {hint.shape}, the image {job.image.shape}")
    return planes_of(hint)


def run(
    jobs: Sequence[Job],
    *,
    config=None,
    model=None,
    reading: dict | None = None,
    predict: bool = True,
    probabilities: bool = False,
    save_model: Path | None = None,
    train_on: Sequence[Job] | None = None,
    write: Callable[[Job, list, list | None], None] = write_outputs,
    preview: bool = False,
    stop: Callable[[], bool] | None = None,
    scheduler: str | None = None,
    hints: Callable[[Job], np.ndarray | None] | None = None,
    refine: int = 0,
    report: Path | None = None,
    resume: bool = False,
) -> Iterator[object]:
    """Run planned jobs; yield :class:`Skipped`, training progress, :class:`Trained`, :class:`Written`, :class:`Failed`, then a :class:`Report`.

    Parameters
    ----------
    jobs : sequence of Job
        What to predict (and write); planned with :func:`plan` for files.
    config : Config, optional
        Train a new model with these settings (on ``train_on``, default
        ``jobs``: every readable image, so a resumed run gives the same masks).
    model : IGTT, optional
        Apply this model instead of training; each file is read only when
        it is predicted.
    reading : dict
        ``channel`` and ``max_pixels`` (:func:`igtt.io.files.read_image`); ``level``,
        the resolution level of zarr inputs (default 0, the full resolution).
    predict : bool
        False trains (and saves) only.
    write : callable
        ``write(job, masks, probabilities)``: :func:`write_outputs` (files)
        or :func:`keep_in_memory`.
    preview, stop
        Live previews in the training events; ``stop()`` returning True ends
        training after the current epoch, and the run goes on with the
        network as trained so far.
    scheduler : str, optional
        The address of a running dask scheduler: prediction runs there,
        one task per file (:mod:`.cluster`); training stays here.
    hints : callable, optional
        ``hints(job)``: the strokes painted on a job's image (shaped like it;
        0 none, 1 object, 2 background, :mod:`igtt.training.hints`) or None; a
        ValueError it raises stops the run (:class:`PlanError`).
    refine : int
        With ``model`` and ``hints``: first refine the model on the jobs'
        images for this many epochs (:meth:`igtt.IGTT.iter_refine`).
    report : Path, optional
        Write the quality report (``report.csv``, :mod:`igtt.quality`) here at
        the end, one row per checked plane; ``resume`` keeps the rows of an
        existing one for the images not predicted in this run.

    Raises
    ------
    PlanError
        None of the training images could be read.
    """
    from ..model import IGTT

    t0 = time.perf_counter()
    reading = reading or {}
    skipped: list[tuple[Path | str, str]] = []
    unreadable = set()  # found so while training: not read again for prediction
    if model is None or (refine and hints is not None):
        planes, ranges, painted = [], [], []
        for job in train_on if train_on is not None else jobs:
            if job.is_zarr:  # random blocks, scaled with their image's range
                try:
                    blocks, block_ranges = training_blocks(job, reading, config.seed if model is None else model.config.seed)
                    event = None
                except (ImageReadError, ImportError) as exc:
                    event = Skipped(job.source, str(exc))
            else:
                event = read_job(job, reading)
                if event is None:
                    blocks = planes_of(job.image)
                    block_ranges = [None] * len(blocks)  # each plane its own range
            if event is not None:
                unreadable.add(job.source)
                skipped.append((event.source, event.reason))
                yield event
                continue
            planes += blocks
            ranges += block_ranges
            painted += _hint_planes(job, hints, len(blocks))
        if not planes:
            raise PlanError("none of the input images could be read")
        if model is None:
            model = IGTT(config)
            training = model.iter_fit(planes, preview=preview, ranges=ranges, hints=painted)
        else:
            training = model.iter_refine(planes, painted, epochs=refine, preview=preview, ranges=ranges)
        for event in training:
            yield event
            if stop is not None and stop():
                break
        if save_model is not None:
            model.save(save_model)
        yield Trained(model)
    pending = [job for job in jobs if job.source not in unreadable] if predict else []
    written = 0
    if scheduler is not None:
        outcomes = predict_on_cluster(pending, model, scheduler, reading=reading, probabilities=probabilities)
    else:
        outcomes = (predict_job(job, model, reading=reading, probabilities=probabilities, write=write) for job in pending)
    checked = []  # (image, plane, check)
    for n, outcome in enumerate(outcomes, 1):
        if isinstance(outcome, Job):
            written += 1
            checked += [(str(outcome.source), i, c) for i, c in enumerate(outcome.checks or ()) if c is not None]
            yield Written(outcome, n, len(pending))
            continue
        skipped.append((outcome.source, outcome.reason))
        yield outcome
    folder_flags([c for _, _, c in checked])
    rows = [report_row(name, plane, check) for name, plane, check in checked]
    if report is not None and rows:
        write_report(report, rows, keep_others=resume)
    yield Report(written=written, skipped=skipped, seconds=time.perf_counter() - t0, model=model, rows=rows)
