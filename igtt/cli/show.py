"""What the batch commands show: the engine's events as bars, then the summary, the objects and the images to check first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from .. import batch
from .options import err, fail, progress_bar

__all__ = ["render_run", "summary", "show_objects", "check_first"]


def _log_line(quiet: bool, text: str) -> None:
    """Progress as a plain line where no bar can be drawn (a cluster job's log file): the log then shows the run as it goes."""
    if not quiet and not err.is_terminal:
        err.print(text, highlight=False, markup=False)


def _render(events, quiet: bool) -> batch.Report:
    """Show the engine's events: unreadable files, a training bar, a writing bar (plain lines in a log); return its report."""
    from ..training.train import Progress as Epoch

    with progress_bar(quiet) as bar:
        training = writing = None
        for event in events:
            if isinstance(event, batch.Skipped):
                err.print(f"[yellow]Failed[/yellow] {escape(event.reason)}", highlight=False)
            elif isinstance(event, Epoch):
                if training is None:
                    training = bar.add_task("Training", total=event.n_epochs, info="")
                bar.update(training, total=event.n_epochs, completed=event.epoch, info=f"loss {event.loss:.4f}")
                _log_line(quiet, f"training: epoch {event.epoch}/{event.n_epochs}, loss {event.loss:.4f}, {event.seconds:.0f} s")
            elif isinstance(event, batch.Trained) and not quiet:
                model = event.model
                size = f", size {model.object_size_:.0f} px" if model.object_size_ else ""
                found = " (found from the images; --foreground to choose)" if model.config.foreground == "auto" else ""
                err.print(f"objects: {model.foreground_} {model.objects_}{size}{found}")
            elif isinstance(event, (batch.Written, batch.Failed)):
                if isinstance(event, batch.Failed):
                    err.print(f"[yellow]Failed[/yellow] {escape(event.reason)}", highlight=False)
                    continue
                if writing is None:
                    writing = bar.add_task("Writing", total=event.total, info="")
                bar.update(writing, completed=event.done, info=escape(Path(event.job.source).name))
                if event.done % max(1, event.total // 20) == 0 or event.done == event.total:
                    _log_line(quiet, f"written: {event.done}/{event.total} ({Path(event.job.source).name})")
            elif isinstance(event, batch.Report):
                return event
    raise AssertionError("the batch engine ended without a report")  # pragma: no cover


def summary(quiet: bool, n_images: int, report: batch.Report, done: int) -> None:
    """The counts of a run, which add up: every input is written, already done (skipped), or failed (unreadable or not written)."""
    if quiet:
        return
    table = Table(title="igtt summary")
    for col in ("inputs", "written", "skipped (already done)", "failed", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(str(n_images), str(report.written), str(done), str(len(report.skipped)), f"{report.seconds:.1f}")
    err.print(table)
    for _, reason in report.skipped:
        err.print(f"  failed: {escape(reason)}", highlight=False)


def show_objects(quiet: bool, rows: list[dict]) -> None:
    """The objects in one line each for images and for volumes: how many, per image, and their median area or volume
    (rows of :func:`igtt.objects.summary_rows`)."""
    if quiet:
        return
    for size, unit, physical, what in (("area", "px", "um2", "images"), ("volume", "voxels", "um3", "volumes")):
        counted = [r for r in rows if f"median_{size}" in r]
        if not counted:
            continue
        counts = [int(r["objects"]) for r in counted]
        sizes = [float(r[f"median_{size}"]) for r in counted if int(r["objects"])]
        microns = [float(r[f"median_{size}_{physical}"]) for r in counted if r.get(f"median_{size}_{physical}") not in (None, "")]
        typical = f"; median {size} {np.median(sizes):.0f} {unit}" if sizes else ""
        typical += f" ({np.median(microns):.4g} µm{'²' if size == 'area' else '³'})" if microns else ""
        if not microns and any(k.startswith("mean_intensity") for r in counted for k in r):  # measured, but in pixels only
            typical += "; no pixel size in the files: sizes in pixels (--pixel-size gives µm)"
        many = what if len(counts) != 1 else what[:-1]
        err.print(f"Objects: {sum(counts)} in {len(counts)} {many} (median {np.median(counts):.0f} per {what[:-1]}{typical})")


def check_first(quiet: bool, rows: list[dict], report: Path | None, notes: list[str] = ()) -> None:
    """End the summary with what holds for the whole folder, then the images whose masks to look at first."""
    from ..quality import to_check_first

    first = to_check_first(rows)
    if quiet or not rows:
        return
    for note in notes:
        err.print(f"Folder: {escape(note)}", highlight=False)
    if not first:
        err.print(f"Quality: no image flagged ({len(rows)} checked); report in {escape(str(report))}" if report else "Quality: no image flagged")
        return
    flagged = sum(1 for r in rows if r["flags"])
    err.print(f"Check first ({flagged} of {len(rows)} images flagged; all in {escape(str(report))}):" if report else "Check first:")
    for row in first:
        plane = f" plane {row['plane']}" if str(row["plane"]) != "0" else ""
        err.print(f"  {escape(row['image'])}{plane}  score {row['score']}: {escape(row['flags'])}", highlight=False)
    if report is not None:
        err.print(f"To fix them: igtt review {escape(str(report.parent))} (paint a few strokes in napari, then Refine and rewrite)", highlight=False)


def render_run(events, quiet: bool, interrupted: str) -> batch.Report:
    try:
        return _render(events, quiet)
    except batch.PlanError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print(f"[red]Interrupted.[/red] {interrupted}")
        raise typer.Exit(130)
