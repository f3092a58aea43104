"""The review widget: open a results folder of ``igtt segment``, flagged images first, paint strokes, refine and rewrite it.

Each image is shown with its mask and a hints layer (1 object, 2 background);
strokes are saved to ``OUT/hints`` as the user moves on, so a review can stop
and go on later, and ``igtt refine OUT`` repeats the refine from the command
line. The refine runs :func:`igtt.batch.review.refine_folder` in a
``thread_worker``; the folder's outputs are replaced only once all new ones
are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import Container, FileEdit, Label, ProgressBar, PushButton, SpinBox
from napari.qt.threading import thread_worker
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_error

from ._widget import HINT_COLORS
from ._worker import avoid_triton_llvm_clash

if TYPE_CHECKING:
    import napari

IMAGE, MASK, HINTS = "review: image", "review: mask", "review: hints (1 object, 2 background)"


@thread_worker
def _refine(folder: Path, epochs: int):
    from igtt.batch import review

    yield from review.refine_folder(folder, epochs=epochs)


class ReviewWidget(Container):
    """Step through a results folder, flagged images first (lowest score first); paint where a mask is wrong; refine and rewrite."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        avoid_triton_llvm_clash()
        from igtt.batch.review import REFINE_EPOCHS

        self._viewer = viewer
        self._run, self._order, self._at, self._worker = None, [], 0, None
        self._folder = FileEdit(label="Results folder", mode="d")
        self._open = PushButton(text="Open results folder")
        self._where = Label(value="")
        self._previous = PushButton(text="◀ Previous", enabled=False)
        self._next = PushButton(text="Next ▶", enabled=False)
        self._epochs = SpinBox(label="Refine epochs", value=REFINE_EPOCHS, min=1, max=100)
        self._refine = PushButton(text="Refine and rewrite the folder", enabled=False)
        self._progress = ProgressBar(label="Refine", value=0, min=0, max=1)
        self._status = Label(value="")
        for label in (self._where, self._status):
            label.native.setWordWrap(True)
        self.extend([
            self._folder, self._open, self._where, self._previous, self._next, self._epochs, self._refine, self._progress, self._status,
        ])  # fmt: skip
        self._open.changed.connect(lambda: self.open(self._folder.value))
        self._previous.changed.connect(lambda: self.show(self._at - 1))
        self._next.changed.connect(lambda: self.show(self._at + 1))
        self._refine.changed.connect(self.refine)

    # -- the folder and the image in view -------------------------------------------
    def open(self, folder) -> None:
        """Read the run recorded in ``folder`` and show the first image to look at."""
        from igtt.batch import PlanError, review

        self.save_hints()  # of the folder open so far
        try:
            self._run = review.load_run(folder)
        except PlanError as exc:
            show_error(str(exc))
            return
        self._folder.value = self._run.out
        self._order = review.review_order(self._run)
        flagged = sum(1 for _, row in self._order if row and row["flags"])
        self._status.value = f"{len(self._order)} images, {flagged} flagged: paint where a mask is wrong, then Refine and rewrite"
        self._at = 0
        self.show(0, save=False)

    @property
    def job(self):
        return self._order[self._at][0] if self._order else None

    def show(self, k: int, *, save: bool = True) -> None:
        """Show image ``k`` of the review order with its mask and its hints (saved ones reloaded); the hints in view are saved first."""
        from igtt.batch import PlanError, review
        from igtt.batch.jobs import SUFFIXES, Job
        from igtt.batch.step import read_job
        from igtt.io.files import ImageReadError, read_image

        if not self._order:
            return
        if save:
            self.save_hints()
        self._at = k = int(np.clip(k, 0, len(self._order) - 1))
        job, row = self._order[k]
        image = Job(job.source, job.relative)
        skipped = read_job(image, self._run.reading)
        try:
            if skipped is not None:
                raise ImageReadError(skipped.reason)
            mask = read_image(self._run.out / (job.relative.as_posix() + SUFFIXES["mask"])) > 0
            hint = review.read_hint(self._run.out, job, image.image.shape)
        except (ImageReadError, PlanError) as exc:
            show_error(str(exc))
            hint = mask = None
        for name in (IMAGE, MASK, HINTS):
            if name in self._viewer.layers:
                self._viewer.layers.remove(name)
        if image.image is not None:
            self._viewer.add_image(image.image, name=IMAGE)
            if mask is not None:
                self._viewer.add_labels(mask.astype(np.uint8), name=MASK, opacity=0.4)
            hints = self._viewer.add_labels(np.zeros(image.image.shape, np.uint8) if hint is None else hint, name=HINTS)
            hints.colormap = DirectLabelColormap(color_dict=HINT_COLORS)
            hints.brush_size, hints.selected_label, hints.mode = 5, 1, "paint"
            self._viewer.layers.selection.active = hints
        quality = f"score {row['score']}: {row['flags'] or 'no flags'}" if row else "not checked"
        self._where.value = f"{k + 1} of {len(self._order)}: {Path(str(job.source)).name} — {quality}"
        self._previous.enabled, self._next.enabled = k > 0, k < len(self._order) - 1
        self._refine.enabled = self._worker is None

    def save_hints(self) -> Path | None:
        """Save the strokes in view to ``OUT/hints`` (or remove its hint file when they were all erased)."""
        from igtt.batch import review

        if self.job is None or HINTS not in self._viewer.layers:
            return None
        try:
            return review.save_hint(self._run.out, self.job, np.asarray(self._viewer.layers[HINTS].data))
        except OSError as exc:
            show_error(f"cannot save hints: {exc}")
            return None

    # -- refine and rewrite ------------------------------------------------------
    def refine(self) -> None:
        """Save the strokes in view, then refine the folder's model with all saved strokes and rewrite its outputs."""
        if self._run is None or self._worker is not None:
            return
        self.save_hints()
        self._refine.enabled = False
        self._status.value = "refining (loading torch)…"
        self._worker = _refine(self._run.out, int(self._epochs.value))
        self._worker.yielded.connect(self._on_event)
        self._worker.errored.connect(self._on_error)
        self._worker.finished.connect(self._on_finished)
        self._worker.start()

    def _on_event(self, event) -> None:
        from igtt import batch
        from igtt.training.train import Progress

        if isinstance(event, Progress):
            self._progress.max, self._progress.value = event.n_epochs, event.epoch
            self._status.value = f"refining: epoch {event.epoch}/{event.n_epochs}"
        elif isinstance(event, batch.Written):
            self._status.value = f"rewriting: {event.done}/{event.total} images (the old outputs stay until all are written)"
        elif isinstance(event, (batch.Skipped, batch.Failed)):
            show_error(event.reason)
        elif isinstance(event, batch.Report):
            flagged = sum(1 for row in event.rows if row["flags"])
            self._status.value = f"rewritten: {event.written} images, {flagged} flagged; CLI equivalent: igtt refine {self._run.out}"

    def _on_error(self, exc) -> None:
        self._status.value = f"error: {exc}"
        show_error(str(exc))

    def _on_finished(self) -> None:
        from igtt.batch import review

        self._worker = None
        self.save_hints()  # strokes painted while it ran
        current = self.job
        self._order = review.review_order(self._run)  # the new report's order; stay on the image in view
        at = next((i for i, (job, _) in enumerate(self._order) if job.source == getattr(current, "source", None)), 0)
        self.show(at, save=False)
