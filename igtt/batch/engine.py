"""Running planned jobs: read -> train or load -> predict -> write, as a generator of events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..quality import folder_flags, folder_notes, report_row
from ..quality.report import append_report, start_report, write_report
from .cluster import predict_on_cluster
from .events import Report, Trained, Written
from .jobs import Job, PlanError
from .sample import TRAIN_PIXELS, read_training_set
from .step import predict_job, write_outputs

__all__ = ["run"]


class _Journal:
    """Each job's report rows, appended as it is done; the report is started with the first rows (a run with none writes none)."""

    def __init__(self, report: Path, resume: bool):
        self.report, self.resume, self.started = report, resume, False

    def __call__(self, job: Job) -> None:
        rows = [report_row(str(job.source), i, c) for i, c in enumerate(job.checks or ()) if c is not None]
        if rows and not self.started:
            start_report(self.report, keep_others=self.resume)
            self.started = True
        append_report(self.report, rows)


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
    train_pixels: int = TRAIN_PIXELS,
) -> Iterator[object]:
    """Run planned jobs; yield :class:`Skipped`, training progress, :class:`Trained`, :class:`Written`, :class:`Failed`, then a :class:`Report`.

    Parameters
    ----------
    jobs : sequence of Job
        What to predict (and write); planned with :func:`plan` for files.
    config : Config, optional
        Train a new model with these settings, on a sample of ``train_on``
        (default ``jobs``) spread over it, up to ``train_pixels`` pixels
        (:func:`read_training_set`; the same inputs give the same sample, so
        a resumed run gives the same masks).
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
        ValueError it raises stops the run (:class:`PlanError`). Training follows
        them, and the job's masks honour them (:func:`igtt.training.hints.honour_strokes`).
    refine : int
        With ``model`` and ``hints``: first refine the model on the jobs'
        images for this many epochs (:meth:`igtt.IGTT.iter_refine`).
    report : Path, optional
        Write the quality report (``report.csv``, :mod:`igtt.quality`) here,
        one row per checked plane: each image's rows as it is done (before
        its mask), the whole report again at the end with the folder's flags;
        ``resume`` keeps the rows of an existing one for the images not
        predicted in this run.

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
        seed = config.seed if model is None else model.config.seed
        train_on = train_on if train_on is not None else jobs
        sample = yield from read_training_set(train_on, reading=reading, seed=seed, hints=hints, budget=train_pixels)
        unreadable, skipped = sample.unreadable, sample.skipped
        planes, ranges, painted, volumes = sample.planes, sample.ranges, sample.painted, sample.volumes
        del sample
        if not planes:
            raise PlanError("none of the input images could be read")
        if model is None:
            model = IGTT(config)
            training = model.iter_fit(planes, preview=preview, ranges=ranges, hints=painted, volumes=volumes)
        else:
            training = model.iter_refine(planes, painted, epochs=refine, preview=preview, ranges=ranges)
        for event in training:
            yield event
            if stop is not None and stop():
                break
        del planes, ranges, painted, volumes, training  # prediction reads file by file: keep no training plane
        predicted = {id(job) for job in jobs} if predict else set()
        for job in train_on:
            if id(job) not in predicted:  # read for training only (done in an earlier run): free it now
                job.image = None
        if save_model is not None:
            model.save(save_model)
        yield Trained(model)
    pending = [job for job in jobs if job.source not in unreadable] if predict else []
    written = 0
    note = _Journal(report, resume) if report is not None else None
    if scheduler is not None:
        outcomes = predict_on_cluster(pending, model, scheduler, reading=reading, probabilities=probabilities)
    else:
        outcomes = (
            predict_job(job, model, reading=reading, probabilities=probabilities, write=write, note=note, strokes=hints) for job in pending
        )
    checked, objects = [], []  # (image, plane, check); summary rows
    for n, outcome in enumerate(outcomes, 1):
        if isinstance(outcome, Job):
            written += 1
            if scheduler is not None and note is not None:  # written by a worker: its rows follow
                note(outcome)
            checked += [(str(outcome.source), i, c) for i, c in enumerate(outcome.checks or ()) if c is not None]
            objects += outcome.summary or []
            yield Written(outcome, n, len(pending))
            continue
        skipped.append((outcome.source, outcome.reason))
        yield outcome
    notes = folder_notes([c for _, _, c in checked])
    folder_flags([c for _, _, c in checked])
    rows = [report_row(name, plane, check) for name, plane, check in checked]
    if report is not None and rows:
        write_report(report, rows, keep_others=resume)
    yield Report(written=written, skipped=skipped, seconds=time.perf_counter() - t0, model=model, rows=rows, notes=notes, objects=objects)
