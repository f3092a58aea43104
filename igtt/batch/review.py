"""Reviewing a results folder: what a run leaves to be refined, the order to look at its images, and refine-and-rewrite.

``igtt segment IN --out OUT`` leaves, beside the masks and ``report.csv``,
``OUT/igtt-run/``: the model (``model.igtt``) and ``run.json`` (the inputs,
how they were read, what was written). A review paints strokes on a few
images; they are saved as hint images in ``OUT/hints/`` (named like the
masks: 0 none, 1 object, 2 background). :func:`refine_folder` then refines
the model with every stroke given and rewrites the whole folder: the new
outputs are made in a hidden staging folder inside ``OUT`` and replace the
old ones only once all are complete. ``igtt refine OUT`` runs it from the
command line; ``igtt review OUT`` (napari) paints and runs it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.files import ImageReadError, read_image, write_tiff
from ..io.outputs import TEMP_PREFIX, atomic_path
from ..objects.table import SUMMARY, read_summary, write_summary
from ..quality.report import read_rows, write_report
from ..starts.labels import StartLabels
from ..training.hints import honour_strokes, sets_start_aside, start_trust
from .engine import run
from .events import Report, Trained
from .jobs import SUFFIXES, Job, PlanError, plan
from .sample import spread_order
from .step import planes_of, read_job

__all__ = [
    "RUN_FOLDER", "HINTS_FOLDER", "REFINE_EPOCHS", "Run", "record_run", "load_run", "hint_path", "save_hint", "read_hint",
    "review_order", "refine_folder",
]

RUN_FOLDER, HINTS_FOLDER, REPORT = "igtt-run", "hints", "report.csv"
MODEL, RECORD = "model.igtt", "run.json"
# a refine from the model's weights: REFINE_EPOCHS epochs of REFINE_STEPS batches (as napari's Refine button)
REFINE_EPOCHS, REFINE_STEPS = 5, 6
# images without strokes refined beside the hinted ones, their own masks as labels: they keep the rest of the folder as it was
ANCHORS = 8
_STAGING = TEMP_PREFIX + "review"
# an unpainted image keeps its old mask when the new one agrees less with its start by more than this (see _keep_the_better)
KEEP_BELOW = 0.02


@dataclass
class Run:
    """What a segment run wrote into a results folder, read back from its ``run.json``."""

    out: Path
    jobs: list[Job]
    reading: dict
    images: list[str]  # each job's name in report.csv
    kinds: dict  # probabilities, labels, measure: bool
    model: Path

    @property
    def report(self) -> Path:
        return self.out / REPORT


def record_run(out: Path, jobs: Sequence[Job], *, reading: dict, model: Path, probabilities=False, labels=False, measure=False) -> Path:
    """Write ``OUT/igtt-run/run.json`` (atomically): enough to find every input, its outputs and the model again."""
    out = Path(out)
    record = {
        "version": 1,
        # source: to read it from anywhere; image: its name in report.csv, as the command line was given it
        "inputs": [{"source": str(Path(job.source).resolve()), "image": str(job.source), "relative": job.relative.as_posix()} for job in jobs],
        "reading": {k: v for k, v in reading.items() if v is not None},
        "outputs": {"probabilities": probabilities, "labels": labels, "measure": measure},
        "model": _relative_to(Path(model).resolve(), out.resolve()),
    }
    path = out / RUN_FOLDER / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return path


def _relative_to(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)


def load_run(out: str | Path) -> Run:
    """The run recorded in a results folder. Raises :class:`PlanError` (one line) when there is none or it is damaged."""
    out = Path(out)
    path = out / RUN_FOLDER / RECORD
    if not path.is_file():
        raise PlanError(f"{out}: not a results folder of igtt segment (no {RUN_FOLDER}/{RECORD}; igtt segment --out writes it)")
    try:
        record = json.loads(path.read_text())
        jobs = [Job(Path(item["source"]), Path(item["relative"])) for item in record["inputs"]]
        images = [item.get("image", item["source"]) for item in record["inputs"]]
        model = Path(record["model"])
        kinds = {k: bool(record["outputs"].get(k)) for k in ("probabilities", "labels", "measure")}
        reading = dict(record.get("reading", {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"{path}: cannot read the run's record ({exc})") from None
    model = model if model.is_absolute() else out / model
    if not model.is_file():
        raise PlanError(f"{model}: the run's model is missing")
    return Run(out, jobs, reading, images, kinds, model)


def hint_path(out: Path, job: Job) -> Path:
    """Where a job's hint image lives: ``OUT/hints/`` mirroring the masks."""
    return Path(out) / HINTS_FOLDER / (job.relative.as_posix() + SUFFIXES["mask"])


def save_hint(out: Path, job: Job, hint: np.ndarray | None) -> Path | None:
    """Save (atomically) or, when ``hint`` holds no stroke, remove a job's hint image; returns its path if saved."""
    path = hint_path(out, job)
    if hint is None or not np.any(hint):
        path.unlink(missing_ok=True)
        return None
    return write_tiff(path, np.asarray(hint, np.uint8))


def read_hint(out: Path, job: Job, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """A job's hint image, or None. Raises :class:`PlanError` when it is unreadable, has other values or another shape."""
    from ..training.hints import check_values

    path = hint_path(out, job)
    if not path.is_file():
        return None
    try:
        hint = read_image(path)
        check_values(hint, str(path))
    except (ImageReadError, ValueError) as exc:
        raise PlanError(str(exc)) from None
    if shape is not None and hint.shape != tuple(shape):
        raise PlanError(f"{path}: shaped {hint.shape}, its image {tuple(shape)}")
    return hint.astype(np.uint8) if hint.any() else None


def review_order(run: Run) -> list[tuple[Job, dict | None]]:
    """The run's images to look at, flagged ones first, then by score (lowest first), each with its worst report row."""
    rows: dict[str, dict] = {}
    for row in read_rows(run.report):  # each image's worst plane
        old = rows.get(row["image"])
        if old is None or float(row["score"] or 0) < float(old["score"] or 0):
            rows[row["image"]] = row
    found = [(job, rows.get(image)) for job, image in zip(run.jobs, run.images)]

    def key(item):
        row = item[1]
        return (row is None, not (row and row["flags"]), float(row["score"]) if row else 1.0)

    return sorted(found, key=key)


def _training(run: Run, hints: dict[int, np.ndarray]) -> tuple[list, list, list]:
    """Planes, their masks from the last run and hints: every hinted image and up to ANCHORS others spread over the folder."""
    anchors = [i for i in spread_order(len(run.jobs)) if i not in hints][:ANCHORS]
    planes, masks, painted = [], [], []
    for i in sorted(hints) + anchors:
        job = Job(run.jobs[i].source, run.jobs[i].relative)
        mask_path = run.out / (job.relative.as_posix() + SUFFIXES["mask"])
        if read_job(job, run.reading) is not None or not mask_path.is_file():
            continue  # gone since the run: its outputs are left as they are
        mask = read_image(mask_path) > 0
        if i in hints and hints[i].shape != job.image.shape:
            raise PlanError(f"{hint_path(run.out, job)}: shaped {hints[i].shape}, its image {job.image.shape}")
        if mask.shape != job.image.shape:
            continue
        planes += planes_of(job.image)
        masks += planes_of(mask)
        painted += planes_of(hints[i]) if i in hints else [None] * len(planes_of(mask))
    return planes, masks, painted


def refine_folder(out: str | Path, *, epochs: int = REFINE_EPOCHS, device: str | None = None) -> Iterator[object]:
    """Refine the run's model with the hints in ``OUT/hints`` and rewrite the folder; yield the batch events (:func:`igtt.batch.run`).

    The model is refined from its weights on the hinted images and a few
    others (the last run's masks as their labels, the strokes over them);
    where EM-like masks (compartments) contradict the strokes outright
    (:func:`igtt.training.hints.sets_start_aside`) a new model learns from
    the strokes alone, as ``igtt segment --hints`` would. Then every input is predicted again (the painted images' masks honour
    their strokes, :func:`igtt.training.hints.honour_strokes`). Masks,
    probabilities, labels, measurements, ``report.csv`` and the model are made in a staging folder
    and moved over the old ones only when all are written: a run stopped
    before that leaves the folder as it was.

    Raises
    ------
    PlanError
        No run recorded in ``out``, no hint image, or a bad hint image.
    """
    from ..model import IGTT

    result = load_run(out)
    out = result.out
    hints = {i: hint for i, job in enumerate(result.jobs) if (hint := read_hint(out, job)) is not None}
    if not hints:
        raise PlanError(f"{out / HINTS_FOLDER}: no hint strokes to refine with (paint some with igtt review {out})")
    try:
        model = IGTT.load(result.model, device=device)
    except (OSError, ValueError) as exc:
        raise PlanError(f"{result.model}: cannot load the run's model ({exc})") from None
    planes, masks, painted = _training(result, hints)
    # EM-like masks (whole compartments) that contradict the strokes outright: a new model learns from the strokes alone,
    # as igtt segment --hints does when they contradict the start; kind, size and polarity stay the run's. ssTEM, 3 + 3
    # strokes on each of the 3 images shown first, two draws: trust 0.54, learnt anew 36.6 -> 49.5 Dice; trust 0.88,
    # refined 36.6 -> 39.8. Not for blobs or lines: strokes painted on a good folder's errors always contradict its
    # masks, and a few strokes alone lose what the masks knew (nuclei_mixed, strokes on the errors: painted 77 -> 22)
    if model.objects_ == "compartments" and sets_start_aside(start_trust([StartLabels(m, m, ~m) for m in masks], painted), painted):
        fitted = {"foreground": model.foreground_, "objects": model.objects_, "object_size": model.object_size_}
        model = IGTT(model.config.replace(**fitted, **({"device": device} if device else {})))
        yield from model.iter_fit(planes, hints=painted)
    else:
        # the strokes win in the labels too: a blob painted as background is background whole
        masks = [
            m if h is None else honour_strokes(m, h, kind=model.objects_, size=model.object_size_, image=p, bright=model.foreground_ != "dark")
            for m, h, p in zip(masks, painted, planes)
        ]
        label_free = model.hinted_
        yield from model.iter_refine(planes, painted, masks=masks, epochs=epochs, steps=REFINE_STEPS)
        model.hinted_ = label_free  # a refine keeps most of the masks: one that runs away from its start is still replaced by it
    yield Trained(model)
    del planes, masks, painted
    for stale in out.glob(_STAGING + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = out / f"{_STAGING}-{os.getpid()}"
    try:
        jobs = [Job(job.source, job.relative) for job in result.jobs]
        by_job = {id(job): hints.get(i) for i, job in enumerate(jobs)}
        pending, _ = plan(jobs, staging, **result.kinds, overwrite=True, report=staging / REPORT)
        report = None
        for event in run(
            pending, model=model, reading=result.reading, probabilities=result.kinds["probabilities"], report=staging / REPORT,
            hints=lambda job: by_job.get(id(job)),
        ):
            if isinstance(event, Report):
                report = event
                continue
            yield event
        kept, rows = _keep_the_better(result, pending, hints, staging)
        if result.kinds["labels"] or result.kinds["measure"]:
            _stage_summary(result, report, kept, staging)
        if kept:
            report.rows = rows
            report.notes.append(f"{len(kept)} unpainted image(s) kept their masks: the refine took them further from their starts")
        model.save(staging / RUN_FOLDER / MODEL)
        _move_into_place(staging, out)
        record_run(out, result.jobs, reading=result.reading, model=out / RUN_FOLDER / MODEL, **result.kinds)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    yield report


def _agreements(report: Path, names: Sequence[str]) -> dict[str, float]:
    """Each image's mean agreement with its starts (``start_agreement``) in a report."""
    found: dict[str, list[float]] = {}
    for row in read_rows(report):
        if row["image"] in names and row["start_agreement"]:
            found.setdefault(row["image"], []).append(float(row["start_agreement"]))
    return {name: float(np.mean(values)) for name, values in found.items()}


def _keep_the_better(run: Run, jobs: Sequence[Job], hints: dict, staging: Path) -> tuple[list[tuple[Job, str]], list[dict]]:
    """Unpainted images whose new mask agrees less with the image's start than the old one did keep the old outputs.

    Their staged outputs are removed (so the old ones stay) and their rows of
    the staged report become the old ones. Returns them (with their names in the old report) and the report's rows. The strokes say nothing of them,
    and the start is the label-free evidence of each image (the score ranks
    by it): a refine on a few unlike images must not make the others worse.
    """
    old = _agreements(run.report, run.images)
    new = _agreements(staging / REPORT, [str(job.source) for job in jobs])
    kept = [
        (job, image) for i, (job, image) in enumerate(zip(jobs, run.images))
        if i not in hints and image in old and str(job.source) in new and new[str(job.source)] < old[image] - KEEP_BELOW
    ]
    if not kept:
        return [], []
    for job, _ in kept:
        for path in job.outputs.values():
            Path(path).unlink(missing_ok=True)
    sources = {image: str(job.source) for job, image in kept}
    rows = [{**row, "image": sources[row["image"]]} for row in read_rows(run.report) if row["image"] in sources]
    rows += [row for row in read_rows(staging / REPORT) if row["image"] not in set(sources.values())]
    write_report(staging / REPORT, rows)
    return kept, rows


def _stage_summary(run: Run, report: Report, kept: Sequence[tuple[Job, str]], staging: Path) -> None:
    """The staged per-image summary: the new rows, and the old ones of the images that kept their outputs."""
    sources = {image: str(job.source) for job, image in kept}
    rows = [{**row, "image": sources[row["image"]]} for row in read_summary(run.out / SUMMARY) if row["image"] in sources]
    write_summary(staging / SUMMARY, rows + [row for row in report.objects if row["image"] not in set(sources.values())])


def _move_into_place(staging: Path, out: Path) -> None:
    """Every file made in ``staging`` replaces its namesake in ``out``, each by an atomic rename."""
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and not p.name.startswith(TEMP_PREFIX)):
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
