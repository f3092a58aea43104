"""Planning a batch: inputs (files, folders, globs, zarr stores) become jobs with checked output paths, before any work."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.files import find_images
from ..io.outputs import OutputPlan, PlanError, check_target, check_writable, remove_stale_temporaries
from ..io.zarr_store import SUFFIX as ZARR_SUFFIX
from ..io.zarr_store import is_zarr, require_zarr, zarr_stem

__all__ = ["Job", "PlanError", "collect", "plan", "check_writable", "check_model_target", "hint_files", "SUFFIXES"]

SUFFIXES = {"mask": ".tif", "probability": "_prob.tif", "labels": "_labels.tif", "measurements": "_objects.csv"}


@dataclass
class Job:
    """One image (a file, a zarr store or an in-memory array) and where its results go.

    ``outputs`` maps what is written (``"mask"``, ``"probability"``,
    ``"labels"``, ``"measurements"``) to its file (an OME-Zarr store for a zarr input); in-memory
    jobs have none and get ``result`` (masks and probabilities shaped like the
    image) instead.
    """

    source: Path | str
    relative: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    image: np.ndarray | None = None
    result: tuple[np.ndarray, np.ndarray | None] | None = None
    checks: list | None = None  # per plane, the quality check of its mask (igtt.quality.ImageCheck or None)
    objects: list | None = None  # per plane, its label image (igtt.objects.label_objects), while it is written
    replace: bool = False  # whether writing may replace an existing output (--overwrite, --skip-existing)
    info: object = None  # what the file says about its pixels (igtt.io.meta.ImageInfo), once read
    spacing: tuple | None = None  # a z-stack segmented as a volume: its voxel size (z, y, x) in µm
    channels: np.ndarray | None = None  # every channel (first axis), to measure them all, while it is written
    kind: str = "blobs"  # the kind of object its model segments
    tables: list | None = None  # its measurements (igtt.measure), one per plane (one for a volume), while it is written
    summary: list | None = None  # its rows of the per-image summary (igtt.objects.summary_rows), once labelled

    @property
    def is_volume(self) -> bool:
        return self.spacing is not None

    @property
    def is_zarr(self) -> bool:
        return isinstance(self.source, Path) and is_zarr(self.source)


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
        if is_zarr(path):  # a zarr store is one image, not a folder of files
            jobs.append(Job(path, Path(zarr_stem(path))))
            continue
        root = path if path.is_dir() else None if path.is_file() else _glob_root(item)
        try:
            files = find_images([item], pattern=pattern, recursive=recursive)
            if path.is_dir():  # zarr stores directly inside the folder
                files += sorted(p for p in path.iterdir() if is_zarr(p) and not p.name.startswith("."))
        except FileNotFoundError as exc:
            raise PlanError(str(exc)) from None
        except OSError as exc:  # a folder that cannot be listed (permissions, a share that errors)
            raise PlanError(f"{exc.filename or item}: cannot list it ({exc.strerror or exc})") from None
        nested = own is not None and root is not None and own != root.resolve() and own.is_relative_to(root.resolve())
        for f in files:
            if nested and f.resolve().is_relative_to(own):
                continue
            relative = f.relative_to(root) if root is not None else Path(f.name)
            jobs.append(Job(f, relative.with_name(zarr_stem(f)) if is_zarr(f) else relative.with_suffix("")))
    if any(job.is_zarr for job in jobs):
        try:
            require_zarr()
        except ImportError as exc:
            raise PlanError(str(exc)) from None
    if not jobs:
        raise PlanError(f"no images found in {' '.join(map(str, inputs))} (pattern: {pattern or 'common image types'})")
    return jobs


def plan(
    jobs: list[Job],
    out: Path,
    *,
    probabilities: bool = False,
    labels: bool = False,
    measure: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
    save_model: Path | None = None,
    report: Path | None = None,
) -> tuple[list[Job], int]:
    """Give every job its output paths and check them all before any work (:class:`igtt.io.outputs.OutputPlan`).

    Refuses (one message, every clash listed) outputs that two inputs would
    share, outputs that would land on an input, outputs that are folders or
    sit below a file, and existing outputs without ``overwrite`` or
    ``skip_existing``. ``save_model``: a model file the run also writes
    (as :func:`check_model_target`, and never where a mask goes).
    ``report``: the quality report the run also writes (an existing one is
    replaced with ``overwrite``, extended with ``skip_existing``). Removes temporaries that ended runs left behind. Returns the jobs still to do and how many were skipped as done.
    """
    kinds = ["mask"] + ["probability"] * probabilities + ["labels"] * labels + ["measurements"] * measure
    outputs = OutputPlan([job.source for job in jobs], overwrite=overwrite or skip_existing)
    pending, done, replaced = [], 0, []
    if save_model is not None and outputs.add(save_model, "--save-model", kind="model") and not overwrite:
        raise PlanError(f"{save_model} exists; use --overwrite to replace it")  # --skip-existing resumes masks, not models
    if report is not None and outputs.add(report, "the quality report"):
        replaced.append(report)
    single_store = out.name.endswith(".zarr") and len(jobs) == 1 and jobs[0].is_zarr  # --out masks.ome.zarr
    for job in jobs:
        base = out / job.relative
        if job.is_zarr:
            if probabilities:
                raise PlanError(f"{job.source}: --probabilities are not written for zarr inputs yet; the mask, --labels and --measure are")
            job.outputs = {"mask": out if single_store else base.parent / (base.name + ZARR_SUFFIX)}
            if labels or measure:  # an OME-Zarr labels image inside the mask's store, written with it (measured from it)
                job.outputs["labels"] = job.outputs["mask"] / "labels" / "objects"
            if measure:  # the table beside the store
                table = out.parent / zarr_stem(out) if single_store else base
                job.outputs["measurements"] = table.parent / (table.name + SUFFIXES["measurements"])
            if job.outputs["mask"].is_dir() and not is_zarr(job.outputs["mask"]):
                raise PlanError(f"{job.outputs['mask']}: is a folder, not a zarr store; move it or choose another --out")
        else:
            job.outputs = {kind: base.parent / (base.name + SUFFIXES[kind]) for kind in kinds}
        written = [p for k, p in job.outputs.items() if k != "labels" or not job.is_zarr]  # a zarr store holds its labels
        exists = [outputs.add(path, job.source, kind="store" if job.is_zarr else "file") for path in written]
        job.replace = overwrite or skip_existing
        if all(exists) and skip_existing:
            done += 1
            continue
        replaced += [path for path, e in zip(written, exists) if e]
        pending.append(job)
    outputs.check(
        existing=replaced,
        resume_hint=" or --skip-existing to resume",
        clash_hint="rename the inputs, or give their common folder with --recursive so the outputs mirror their subfolders",
    )
    remove_stale_temporaries({p.parent for job in jobs for key, p in job.outputs.items() if not (job.is_zarr and key == "labels")})
    return pending, done


def check_model_target(path: Path, jobs: Sequence[Job], overwrite: bool) -> None:
    """A model may be saved at ``path``: not over an input, a folder, a non-model file, or (without ``overwrite``) a model."""
    check_target(path, protected=[job.source for job in jobs], overwrite=overwrite, kind="model")


def hint_files(folder: Path, jobs: Sequence[Job], planned: Sequence[Job] = ()):
    """Hints for ``jobs`` from the hint images in ``folder``, matched by file name (stem); checked before any work.

    Returns ``hints(job)`` for :func:`igtt.batch.run`: the job's hint image
    (0 none, 1 object, 2 background), or None where the folder has none.

    Raises
    ------
    PlanError
        ``folder`` is not a folder, no hint image matches an input, or a
        planned output would be written over a hint image.
    """
    from ..training.hints import check_values
    from ..io.files import images_by_stem, read_image

    try:
        found = images_by_stem(folder)
    except FileNotFoundError as exc:
        raise PlanError(f"--hints {exc}") from None
    stems = {_stem(job.source) for job in jobs}
    if not stems & set(found):
        raise PlanError(f"{folder}: no hint image is named like an input image (hints pair with images by file name)")
    hints = {path.resolve() for path in found.values()}
    for job in planned:
        for output in job.outputs.values():
            if Path(output).resolve() in hints:
                raise PlanError(f"{output}: is a hint image; refusing to write over it, choose another --out")

    def read(job: Job):
        path = found.get(_stem(job.source))
        if path is None:
            return None
        hint = read_image(path)
        check_values(hint, str(path))
        return hint

    return read


def _stem(source) -> str:
    path = Path(str(source))
    return zarr_stem(path) if is_zarr(path) else path.stem
