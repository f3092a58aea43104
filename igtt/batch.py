"""The batch engine: inputs -> planned jobs -> read -> train or load -> predict -> write, as events.

Every front end runs images through here: the command line (files and
folders, written atomically as TIFF), the napari widget (layers in memory)
and any scaled-out run. Planning happens before any work, so a run that
cannot succeed fails in its first second (:class:`PlanError`, one line);
during the run a bad file is reported (:class:`Skipped`, :class:`Failed`)
and the batch goes on. The caller renders the events; closing the
generator, or a ``stop`` request, ends the run.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import ImageReadError, check_target, find_images, read_image, remove_stale_temporaries, write_tiff

__all__ = ["Job", "PlanError", "Skipped", "Trained", "Written", "Failed", "Report", "collect", "plan", "check_writable", "run"]

SUFFIXES = {"mask": ".tif", "probability": "_prob.tif", "labels": "_labels.tif"}


class PlanError(ValueError):
    """A run that cannot start; the message is one line naming the path and the problem."""


@dataclass
class Job:
    """One image (a file or an in-memory array) and where its results go.

    ``outputs`` maps what is written (``"mask"``, ``"probability"``,
    ``"labels"``) to its file; in-memory jobs have none and get ``result``
    (masks and probabilities shaped like the image) instead.
    """

    source: Path | str
    relative: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    image: np.ndarray | None = None
    result: tuple[np.ndarray, np.ndarray | None] | None = None


@dataclass
class Skipped:
    """An input that could not be read; the batch goes on without it."""

    source: Path | str
    reason: str


@dataclass
class Trained:
    """Training finished (or was stopped); ``model`` predicts from here on."""

    model: object


@dataclass
class Written:
    """One job's results are written (files) or stored in ``job.result`` (in memory)."""

    job: Job
    done: int
    total: int


@dataclass
class Failed:
    """A job whose results could not be written; the batch goes on."""

    job: Job
    reason: str


@dataclass
class Report:
    """The end of a run: what happened to every input."""

    written: int
    skipped: list[tuple[Path | str, str]]
    seconds: float
    model: object = None


def _glob_root(item: str) -> Path:
    """The folder a glob is relative to: its path up to the first part with a wildcard."""
    parts = Path(item).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return Path(*parts[:fixed]) if fixed else Path(".")


def collect(inputs: Sequence[str | Path], *, pattern: str | None = None, recursive: bool = False, out: Path | None = None) -> list[Job]:
    """Every input file as a job, with its output path relative to ``out`` mirroring the folder or glob it came from.

    Files inside ``out`` are never inputs when ``out`` lies inside an input
    folder: a rerun does not read its own masks.
    """
    jobs = []
    own = Path(out).resolve() if out is not None else None
    for item in map(str, inputs):
        path = Path(item)
        root = path if path.is_dir() else None if path.is_file() else _glob_root(item)
        try:
            files = find_images([item], pattern=pattern, recursive=recursive)
        except FileNotFoundError as exc:
            raise PlanError(str(exc)) from None
        nested = own is not None and root is not None and own != root.resolve() and own.is_relative_to(root.resolve())
        for f in files:
            if nested and f.resolve().is_relative_to(own):
                continue
            relative = f.relative_to(root) if root is not None else Path(f.name)
            jobs.append(Job(f, relative.with_suffix("")))
    if not jobs:
        raise PlanError(f"no images found in {' '.join(map(str, inputs))} (pattern: {pattern or 'common image types'})")
    return jobs


def plan(
    jobs: list[Job], out: Path, *, probabilities: bool = False, labels: bool = False, overwrite: bool = False, skip_existing: bool = False
) -> tuple[list[Job], int]:
    """Give every job its output paths and check them all before any work.

    Refuses (one message, every clash listed) outputs that two inputs would
    share, outputs that would land on an input, outputs that are folders or
    sit below a file, and existing outputs without ``overwrite`` or
    ``skip_existing``. Removes temporaries an interrupted run left behind.
    Returns the jobs still to do and how many were skipped as done.
    """
    kinds = ["mask"] + ["probability"] * probabilities + ["labels"] * labels
    inputs = {Path(job.source).resolve() for job in jobs}
    owner: dict[Path, Job] = {}
    clashes, pending, done = [], [], 0
    for job in jobs:
        base = out / job.relative
        job.outputs = {kind: base.parent / (base.name + SUFFIXES[kind]) for kind in kinds}
        for path in job.outputs.values():
            key = path.resolve()
            if key in inputs:
                raise PlanError(f"{path}: output would overwrite an input; choose another --out")
            if key in owner:
                clashes.append(f"{owner[key].source} and {job.source} -> {path}")
            owner[key] = job
            if path.is_dir():
                raise PlanError(f"{path}: output is a folder; move it or choose another --out")
            blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
            if blocker is not None:
                raise PlanError(f"{path}: cannot create it, {blocker} is a file, not a folder")
        exists = [p.exists() for p in job.outputs.values()]
        if all(exists) and skip_existing:
            done += 1
            continue
        if any(exists) and not overwrite and not skip_existing:
            raise PlanError(f"{job.outputs['mask']} exists; use --overwrite to replace or --skip-existing to resume")
        pending.append(job)
    if clashes:
        listed = "; ".join(clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise PlanError(
            f"{len(clashes)} output name(s) would be shared, nothing written: {listed}. Rename the inputs, "
            "or give their common folder with --recursive so the outputs mirror their subfolders"
        )
    remove_stale_temporaries({p.parent for job in jobs for p in job.outputs.values()})
    return pending, done


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and make sure files can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".igtt-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PlanError(f"cannot write to output folder {folder}: {exc.strerror or exc}") from None


def check_model_target(path: Path, jobs: Sequence[Job], overwrite: bool) -> None:
    """A model may be saved at ``path``: not over an input, a folder or a non-model file."""
    try:
        check_target(path, protected={Path(job.source).resolve() for job in jobs}, overwrite=overwrite, kind="model")
    except ValueError as exc:
        raise PlanError(str(exc)) from None


def _planes(image: np.ndarray) -> list[np.ndarray]:
    """The 2D planes of an image of any rank, as a list (a 500x3 plane is never taken for RGB)."""
    return list(image.reshape((-1,) + image.shape[-2:]))


def write_outputs(job: Job, masks: list[np.ndarray], proba: list[np.ndarray] | None) -> None:
    """Write a job's planned outputs, each shaped like its input, each atomically."""
    from scipy import ndimage as ndi

    shape = job.image.shape
    write_tiff(job.outputs["mask"], np.multiply(masks, 255, dtype=np.uint8).reshape(shape))
    if "probability" in job.outputs:
        write_tiff(job.outputs["probability"], np.asarray(proba, np.float32).reshape(shape))
    if "labels" in job.outputs:
        instances = np.stack([ndi.label(m, output=np.uint32)[0] for m in masks])  # 4-connected
        write_tiff(job.outputs["labels"], instances.reshape(shape))


def keep_in_memory(job: Job, masks: list[np.ndarray], proba: list[np.ndarray] | None) -> None:
    """Store a job's results in ``job.result``, shaped like its image."""
    shape = job.image.shape
    job.result = (np.asarray(masks, bool).reshape(shape), None if proba is None else np.asarray(proba, np.float32).reshape(shape))


def _read(job: Job, reading: dict) -> Skipped | None:
    if job.image is not None:
        return None
    try:
        job.image = read_image(job.source, **reading)
    except ImageReadError as exc:
        return Skipped(job.source, str(exc))
    return None


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
        Keyword arguments for :func:`igtt.io.read_image` (``channel``, ``max_pixels``).
    predict : bool
        False trains (and saves) only.
    write : callable
        ``write(job, masks, probabilities)``: :func:`write_outputs` (files)
        or :func:`keep_in_memory`.
    preview, stop
        Live previews in the training events; ``stop()`` returning True ends
        training after the current epoch, and the run goes on with the
        network as trained so far.

    Raises
    ------
    PlanError
        None of the training images could be read.
    """
    from .model import IGTT

    t0 = time.perf_counter()
    reading = reading or {}
    skipped: list[tuple[Path | str, str]] = []
    if model is None:
        training = list(train_on if train_on is not None else jobs)
        for job in training:
            if (event := _read(job, reading)) is not None:
                skipped.append((event.source, event.reason))
                yield event
        readable = [job for job in training if job.image is not None]
        if not readable:
            raise PlanError("none of the input images could be read")
        model = IGTT(config)
        for event in model.iter_fit([p for job in readable for p in _planes(job.image)], preview=preview):
            yield event
            if stop is not None and stop():
                break
        if save_model is not None:
            model.save(save_model)
        yield Trained(model)
    pending = list(jobs) if predict else []
    written = 0
    for n, job in enumerate(pending, 1):
        if (event := _read(job, reading)) is not None:
            if (job.source, event.reason) not in skipped:
                skipped.append((event.source, event.reason))
                yield event
            continue
        try:
            planes = _planes(job.image)
            masks, proba = model.predict(planes, return_proba=True) if probabilities else (model.predict(planes), None)
            write(job, masks, proba)
            written += 1
            yield Written(job, n, len(pending))
        except (OSError, ValueError, MemoryError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__
            skipped.append((job.source, f"{job.source}: not written ({reason})"))
            yield Failed(job, f"{job.source}: not written ({reason})")
        if write is write_outputs:
            job.image = None  # free memory as files go
    yield Report(written=written, skipped=skipped, seconds=time.perf_counter() - t0, model=model)
